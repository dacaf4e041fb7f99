# A moldura da janela: a barra superior, o menu do utilizador, a barra de estado, as datas.

app-name = Outpost
nav-patients = Pacientes
nav-today = Hoje
nav-today-hint = A fila do dia: chegadas, triagem, quem é o próximo
nav-reports = Relatórios
nav-reports-hint = O relatório mensal para o ministério
nav-duplicates = Duplicados
nav-duplicates-hint = Pacientes provavelmente registados duas vezes
nav-users = Utilizadores
nav-users-hint = Os utilizadores do centro, as suas funções e palavras-passe
nav-audit = Auditoria
nav-audit-hint = Quem fez o quê, quando, no processo de quem
nav-conflicts = Conflitos ({ $count })
nav-conflicts-hint = Valores de dois postos que aguardam uma decisão
signed-in-as = Sessão iniciada como
menu-lock = Bloquear
menu-switch-user = Mudar de utilizador
menu-change-password = Mudar a palavra-passe
menu-language = Língua
menu-sign-out = Terminar sessão
language-saved = A janela agora fala { $language }.

month-1 = janeiro
month-2 = fevereiro
month-3 = março
month-4 = abril
month-5 = maio
month-6 = junho
month-7 = julho
month-8 = agosto
month-9 = setembro
month-10 = outubro
month-11 = novembro
month-12 = dezembro
date-long = { $day } de { $month } de { $year }
