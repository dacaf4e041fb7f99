# La lista de pacientes y su búsqueda.

list-search = Buscar
list-search-hint = Nombre, número, teléfono, documento o comunidad
list-new-patient = Nuevo paciente
list-open-chart = Abrir expediente
list-open-chart-hint = O haga doble clic en el paciente, o pulse Intro
list-search-failed = La búsqueda falló: { $error }
list-too-many = Más de { $limit } resultados — siga escribiendo para acotar
list-no-match = Ningún paciente coincide con «{ $text }».
list-find-at-district = Buscar en el servidor del distrito…
list-find-at-district-hint = Buscar un paciente registrado en otro centro y abrir aquí su expediente con un motivo
list-matches = { $count ->
    [one] 1 resultado
   *[other] { $shown } resultados
}
list-cannot-show = No se puede mostrar la lista de pacientes: { $error }
list-loading = Cargando la lista de pacientes…
list-empty = Aún no hay pacientes. Registre el primero con «Nuevo paciente».
list-registered = { $count ->
    [one] 1 paciente registrado
   *[other] { $shown } pacientes registrados
}
list-cannot-open = No se puede abrir el expediente: { $error }
list-cannot-read = No se puede leer la lista de pacientes: { $error }
list-column-number = Número
list-column-name = Nombre
list-column-sex = Sexo
list-column-age = Edad
list-column-village = Comunidad
list-column-phone = Teléfono
list-column-last-visit = Última consulta
list-sort-by = Ordenar por { $column }
