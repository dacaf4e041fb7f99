# Les patients probablement enregistrés deux fois, et leur fusion.

dup-search-failed-start = La recherche n'a pas pu démarrer : { $error }
dup-search-stopped = La recherche s'est arrêtée de façon inattendue.
dup-born = né(e) le { $date }
dup-title = Patients probablement enregistrés deux fois
dup-look-again = Chercher à nouveau
dup-rule = Paires à 10 points ou plus : noms semblables (aussi d'une écriture à l'autre et par le son), date de naissance ou âge, sexe, téléphone, pièce d'identité et village comparés.
dup-merged = { $retired } fusionné dans { $survivor }.
dup-open = Ouvrir { $number }
dup-undo = Annuler la fusion
dup-looking = Examen des patients…
dup-none = Aucun doublon probable (examiné à { $time }).
dup-pairs = { $count ->
    [one] 1 paire (examiné à { $time }).
   *[other] { $shown } paires (examiné à { $time }).
}
dup-merge-pair = Fusionner { $first } et { $second }…
merge-title = Fusionner deux dossiers d'un même patient
merge-which = Quel dossier reste ?
merge-keep = Garder { $number }
merge-explain = Les visites, allergies, problèmes, images et passages en file de { $retired } s'afficheront dans le dossier de { $survivor }, et chercher { $retired } trouvera { $survivor }. Rien n'est supprimé : la fusion peut être annulée, et elle atteint les autres postes du centre à la prochaine synchronisation.
merge-why = Pourquoi c'est la même personne
merge-why-hint = p. ex. même pièce d'identité ; confirmé avec le patient
merge-do = Fusionner
merge-why-first = Dites d'abord pourquoi c'est la même personne.
merge-cancel = Annuler
merge-done = { $retired } fusionné dans { $survivor }. La fusion peut être annulée depuis le dossier de { $survivor }.
merge-undone = La fusion a été annulée : { $number } s'affiche de nouveau seul.
merge-also-registered = Aussi enregistré sous { $number } : fusionné ici le { $date } par { $name } ({ $reason }).
merge-undo-of = Annuler la fusion de { $number }
merge-undo-hint = Chaque dossier s'affiche de nouveau seul, avec ce qui y a été écrit
