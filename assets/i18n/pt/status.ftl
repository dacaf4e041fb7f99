# A barra de estado, o botão de sincronização e as funções ao lado do nome do utilizador.

status-database-file = O ficheiro da base de dados
status-patients = { $count ->
    [one] 1 paciente
   *[other] { $shown } pacientes
}
status-last-backup = Última cópia de segurança a { $date }
status-no-backup = Ainda sem cópia de segurança
status-backup-hint = Faça uma cópia com `outpost backup --to PASTA` (uma pen USB) pelo menos a cada { $days } dias
status-icd10-loading = A carregar os códigos CID-10…
status-icd10-failed = Códigos CID-10 indisponíveis: { $error }
sync-now = Sincronizar
sync-now-with = Enviar e receber as alterações com { $name } agora
sync-now-hint = Enviar e receber as alterações agora
sync-running = Está a decorrer uma sincronização
sync-connect = Ligar ao servidor…
sync-connect-hint = Juntar este posto ao servidor do centro
sync-waiting = { $count ->
    [one] 1 alteração em espera
   *[other] { $shown } alterações em espera
}
sync-all-synced = Todas as alterações sincronizadas
sync-to-sync = { $waiting } por sincronizar
sync-not-connected = Sem ligação a um servidor
sync-offline-waiting = Servidor inacessível — a trabalhar offline, { $waiting }
sync-offline = Servidor inacessível — a trabalhar offline
sync-failed = A sincronização falhou: { $error }
sync-online = Online — última sincronização { $time }
sync-not-yet = Ligado — ainda não sincronizado
sync-with = A sincronizar com { $name }
sync-conflicts = { $count ->
    [one] 1 conflito a rever
   *[other] { $shown } conflitos a rever
}
sync-conflicts-hint = Abrir a lista de valores que aguardam uma decisão
sync-held = { $count ->
    [one] 1 alteração retida
   *[other] { $shown } alterações retidas
}
sync-pushing = A sincronizar… { $done } de { $total }
sync-received = A sincronizar… { $count } recebidas
sync-images = A sincronizar… { $count } imagem(ns) transferida(s)
syncing = A sincronizar…
role-receptionist = Receção
role-nurse = Enfermagem
role-clinician = Clínico
role-administrator = Administrador
