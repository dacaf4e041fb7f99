# La barra de estado, el botón de sincronización y las funciones junto al nombre del usuario.

status-database-file = El archivo de la base de datos
status-patients = { $count ->
    [one] 1 paciente
   *[other] { $shown } pacientes
}
status-last-backup = Última copia de seguridad el { $date }
status-no-backup = Aún no hay copia de seguridad
status-backup-hint = Haga una copia con `outpost backup --to CARPETA` (una memoria USB) al menos cada { $days } días
status-icd10-loading = Cargando los códigos CIE-10…
status-icd10-failed = Códigos CIE-10 no disponibles: { $error }
sync-now = Sincronizar
sync-now-with = Enviar y recibir los cambios con { $name } ahora
sync-now-hint = Enviar y recibir los cambios ahora
sync-running = Hay una sincronización en curso
sync-connect = Conectar al servidor…
sync-connect-hint = Unir este puesto al servidor del centro
sync-waiting = { $count ->
    [one] 1 cambio pendiente
   *[other] { $shown } cambios pendientes
}
sync-all-synced = Todos los cambios sincronizados
sync-to-sync = { $waiting } por sincronizar
sync-not-connected = Sin conexión a un servidor
sync-offline-waiting = Servidor inaccesible — trabajando sin conexión, { $waiting }
sync-offline = Servidor inaccesible — trabajando sin conexión
sync-failed = La sincronización falló: { $error }
sync-online = En línea — última sincronización { $time }
sync-not-yet = Conectado — aún sin sincronizar
sync-with = Sincronizando con { $name }
sync-conflicts = { $count ->
    [one] 1 conflicto por revisar
   *[other] { $shown } conflictos por revisar
}
sync-conflicts-hint = Abrir la lista de valores que esperan una decisión
sync-held = { $count ->
    [one] 1 cambio retenido
   *[other] { $shown } cambios retenidos
}
sync-pushing = Sincronizando… { $done } de { $total }
sync-received = Sincronizando… { $count } recibidos
sync-images = Sincronizando… { $count } imagen(es) transferida(s)
syncing = Sincronizando…
role-receptionist = Recepción
role-nurse = Enfermería
role-clinician = Clínico
role-administrator = Administrador
