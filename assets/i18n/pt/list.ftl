# A lista de pacientes e a sua pesquisa.

list-search = Pesquisar
list-search-hint = Nome, número, telefone, documento ou aldeia
list-new-patient = Novo paciente
list-open-chart = Abrir processo
list-open-chart-hint = Ou faça duplo clique no paciente, ou prima Enter
list-search-failed = A pesquisa falhou: { $error }
list-too-many = Mais de { $limit } resultados — continue a escrever para restringir
list-no-match = Nenhum paciente corresponde a «{ $text }».
list-find-at-district = Procurar no servidor do distrito…
list-find-at-district-hint = Procurar um paciente registado noutro centro e abrir aqui o seu processo com um motivo
list-matches = { $count ->
    [one] 1 resultado
   *[other] { $shown } resultados
}
list-cannot-show = Não é possível mostrar a lista de pacientes: { $error }
list-loading = A carregar a lista de pacientes…
list-empty = Ainda não há pacientes. Registe o primeiro com «Novo paciente».
list-registered = { $count ->
    [one] 1 paciente registado
   *[other] { $shown } pacientes registados
}
list-cannot-open = Não é possível abrir o processo: { $error }
list-cannot-read = Não é possível ler a lista de pacientes: { $error }
list-column-number = Número
list-column-name = Nome
list-column-sex = Sexo
list-column-age = Idade
list-column-village = Aldeia
list-column-phone = Telefone
list-column-last-visit = Última consulta
list-sort-by = Ordenar por { $column }
