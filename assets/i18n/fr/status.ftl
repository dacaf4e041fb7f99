# La barre d'état, le bouton de synchronisation et les rôles affichés à côté du nom.

status-database-file = Le fichier de la base de données
status-patients = { $count ->
    [one] 1 patient
   *[other] { $shown } patients
}
status-last-backup = Dernière sauvegarde le { $date }
status-no-backup = Aucune sauvegarde encore
status-backup-hint = Sauvegardez avec `outpost backup --to DOSSIER` (une clé USB) au moins tous les { $days } jours
status-icd10-loading = Chargement des codes CIM-10…
status-icd10-failed = Codes CIM-10 indisponibles : { $error }
sync-now = Synchroniser
sync-now-with = Envoyer et recevoir les changements avec { $name } maintenant
sync-now-hint = Envoyer et recevoir les changements maintenant
sync-running = Une synchronisation est en cours
sync-connect = Se connecter au serveur…
sync-connect-hint = Relier ce poste au serveur du centre
sync-waiting = { $count ->
    [one] 1 changement en attente
   *[other] { $shown } changements en attente
}
sync-all-synced = Tous les changements sont synchronisés
sync-to-sync = { $waiting } à synchroniser
sync-not-connected = Pas connecté à un serveur
sync-offline-waiting = Serveur injoignable — travail hors ligne, { $waiting }
sync-offline = Serveur injoignable — travail hors ligne
sync-failed = La synchronisation a échoué : { $error }
sync-online = En ligne — dernière synchronisation { $time }
sync-not-yet = Connecté — pas encore synchronisé
sync-with = Synchronisation avec { $name }
sync-conflicts = { $count ->
    [one] 1 conflit à examiner
   *[other] { $shown } conflits à examiner
}
sync-conflicts-hint = Ouvrir la liste des valeurs qui attendent une décision
sync-held = { $count ->
    [one] 1 changement retenu
   *[other] { $shown } changements retenus
}
sync-pushing = Synchronisation… { $done } sur { $total }
sync-received = Synchronisation… { $count } reçus
sync-images = Synchronisation… { $count } image(s) transférée(s)
syncing = Synchronisation…
role-receptionist = Accueil
role-nurse = Infirmier·ère
role-clinician = Clinicien
role-administrator = Administrateur
