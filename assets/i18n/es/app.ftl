# El marco de la ventana: la barra superior, el menú del usuario, la barra de estado, las fechas.

app-name = Outpost
nav-patients = Pacientes
nav-today = Hoy
nav-today-hint = La cola del día: llegadas, triaje, quién sigue
nav-reports = Informes
nav-reports-hint = El informe mensual para el ministerio
nav-duplicates = Duplicados
nav-duplicates-hint = Pacientes probablemente registrados dos veces
nav-users = Usuarios
nav-users-hint = Los usuarios del centro, sus funciones y contraseñas
nav-audit = Auditoría
nav-audit-hint = Quién hizo qué, cuándo, en el expediente de quién
nav-conflicts = Conflictos ({ $count })
nav-conflicts-hint = Valores de dos puestos que esperan una decisión
signed-in-as = Sesión iniciada como
menu-lock = Bloquear
menu-switch-user = Cambiar de usuario
menu-change-password = Cambiar la contraseña
menu-language = Idioma
menu-sign-out = Cerrar sesión
language-saved = La ventana ahora habla { $language }.

month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre
date-long = { $day } de { $month } de { $year }
