# Le cadre de la fenêtre : la barre du haut, le menu de l'utilisateur, la barre d'état, les dates.

app-name = Outpost
nav-patients = Patients
nav-today = Aujourd'hui
nav-today-hint = La file du jour : arrivées, triage, qui passe ensuite
nav-reports = Rapports
nav-reports-hint = Le rapport mensuel pour le ministère
nav-duplicates = Doublons
nav-duplicates-hint = Patients probablement enregistrés deux fois
nav-users = Utilisateurs
nav-users-hint = Les utilisateurs du centre, leurs rôles et mots de passe
nav-audit = Journal
nav-audit-hint = Qui a fait quoi, quand, sur le dossier de qui
nav-conflicts = Conflits ({ $count })
nav-conflicts-hint = Valeurs de deux postes qui attendent une décision
signed-in-as = Connecté en tant que
menu-lock = Verrouiller
menu-switch-user = Changer d'utilisateur
menu-change-password = Changer le mot de passe
menu-language = Langue
menu-sign-out = Se déconnecter
language-saved = La fenêtre parle maintenant { $language }.

month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
date-long = { $day } { $month } { $year }
