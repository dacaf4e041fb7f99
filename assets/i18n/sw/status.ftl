# Upau wa hali, kitufe cha kusawazisha na majukumu karibu na jina la mtumiaji.

status-database-file = Faili la hifadhidata
status-patients = { $count ->
    [one] Mgonjwa 1
   *[other] Wagonjwa { $shown }
}
status-last-backup = Nakala rudufu ya mwisho { $date }
status-no-backup = Bado hakuna nakala rudufu
status-backup-hint = Tengeneza nakala kwa `outpost backup --to FOLDA` (diski ya USB) angalau kila siku { $days }
status-icd10-loading = Inapakia misimbo ya ICD-10…
status-icd10-failed = Misimbo ya ICD-10 haipatikani: { $error }
sync-now = Sawazisha sasa
sync-now-with = Tuma na upokee mabadiliko na { $name } sasa
sync-now-hint = Tuma na upokee mabadiliko sasa
sync-running = Usawazishaji unaendelea
sync-connect = Unganisha na seva…
sync-connect-hint = Unganisha kompyuta hii na seva ya kliniki
sync-waiting = { $count ->
    [one] Badiliko 1 linasubiri
   *[other] Mabadiliko { $shown } yanasubiri
}
sync-all-synced = Mabadiliko yote yamesawazishwa
sync-to-sync = { $waiting } kusawazishwa
sync-not-connected = Haijaunganishwa na seva
sync-offline-waiting = Seva haipatikani — inafanya kazi nje ya mtandao, { $waiting }
sync-offline = Seva haipatikani — inafanya kazi nje ya mtandao
sync-failed = Usawazishaji umeshindikana: { $error }
sync-online = Mtandaoni — usawazishaji wa mwisho { $time }
sync-not-yet = Imeunganishwa — bado haijasawazisha
sync-with = Inasawazisha na { $name }
sync-conflicts = { $count ->
    [one] Mgongano 1 wa kukagua
   *[other] Migongano { $shown } ya kukagua
}
sync-conflicts-hint = Fungua orodha ya thamani zinazosubiri uamuzi
sync-held = { $count ->
    [one] Badiliko 1 limezuiliwa
   *[other] Mabadiliko { $shown } yamezuiliwa
}
sync-pushing = Inasawazisha… { $done } kati ya { $total }
sync-received = Inasawazisha… { $count } yamepokelewa
sync-images = Inasawazisha… picha { $count } zimehamishwa
syncing = Inasawazisha…
role-receptionist = Mapokezi
role-nurse = Muuguzi
role-clinician = Daktari
role-administrator = Msimamizi
