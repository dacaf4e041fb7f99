# La liste des patients et sa recherche.

list-search = Rechercher
list-search-hint = Nom, numéro, téléphone, pièce d'identité ou village
list-new-patient = Nouveau patient
list-open-chart = Ouvrir le dossier
list-open-chart-hint = Ou double-cliquez sur le patient, ou appuyez sur Entrée
list-search-failed = La recherche a échoué : { $error }
list-too-many = Plus de { $limit } résultats — continuez à taper pour affiner
list-no-match = Aucun patient ne correspond à « { $text } ».
list-find-at-district = Chercher au serveur du district…
list-find-at-district-hint = Chercher un patient enregistré dans un autre centre, et ouvrir son dossier ici avec un motif
list-matches = { $count ->
    [one] 1 résultat
   *[other] { $shown } résultats
}
list-cannot-show = La liste des patients ne peut pas s'afficher : { $error }
list-loading = Chargement de la liste des patients…
list-empty = Aucun patient pour l'instant. Enregistrez le premier avec « Nouveau patient ».
list-registered = { $count ->
    [one] 1 patient enregistré
   *[other] { $shown } patients enregistrés
}
list-cannot-open = Impossible d'ouvrir le dossier : { $error }
list-cannot-read = Impossible de lire la liste des patients : { $error }
list-column-number = Numéro
list-column-name = Nom
list-column-sex = Sexe
list-column-age = Âge
list-column-village = Village
list-column-phone = Téléphone
list-column-last-visit = Dernière visite
list-sort-by = Trier par { $column }
