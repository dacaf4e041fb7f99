# The status bar, the sync button and the roles shown beside the user's name.

status-database-file = The database file
status-patients = { $count ->
    [one] 1 patient
   *[other] { $shown } patients
}
status-last-backup = Last backup { $date }
status-no-backup = No backup yet
status-backup-hint = Back up with `outpost backup --to FOLDER` (a USB drive) at least every { $days } days
status-icd10-loading = Loading ICD-10 codes…
status-icd10-failed = ICD-10 codes unavailable: { $error }
sync-now = Sync now
sync-now-with = Send and receive changes with { $name } now
sync-now-hint = Send and receive changes now
sync-running = A sync is running
sync-connect = Connect to server…
sync-connect-hint = Join this workstation to the clinic's server
sync-waiting = { $count ->
    [one] 1 change waiting
   *[other] { $shown } changes waiting
}
sync-all-synced = All changes synced
sync-to-sync = { $waiting } to sync
sync-not-connected = Not connected to a server
sync-offline-waiting = Server unreachable — working offline, { $waiting }
sync-offline = Server unreachable — working offline
sync-failed = Sync failed: { $error }
sync-online = Online — last sync { $time }
sync-not-yet = Connected — not synced yet
sync-with = Syncing with { $name }
sync-conflicts = { $count ->
    [one] 1 conflict to review
   *[other] { $shown } conflicts to review
}
sync-conflicts-hint = Open the list of values that need a decision
sync-held = { $count ->
    [one] 1 change held back
   *[other] { $shown } changes held back
}
sync-pushing = Syncing… { $done } of { $total }
sync-received = Syncing… { $count } received
sync-images = Syncing… { $count } image(s) moved
syncing = Syncing…
role-receptionist = Receptionist
role-nurse = Nurse
role-clinician = Clinician
role-administrator = Administrator
