# Fremu ya dirisha: upau wa juu, menyu ya mtumiaji, upau wa hali, tarehe.

app-name = Outpost
nav-patients = Wagonjwa
nav-today = Leo
nav-today-hint = Foleni ya leo: waliofika, uchunguzi wa awali, anayefuata
nav-reports = Ripoti
nav-reports-hint = Ripoti ya mwezi kwa wizara
nav-duplicates = Nakala
nav-duplicates-hint = Wagonjwa walioandikishwa mara mbili huenda
nav-users = Watumiaji
nav-users-hint = Watumiaji wa kliniki, majukumu yao na nywila
nav-audit = Ukaguzi
nav-audit-hint = Nani alifanya nini, lini, kwenye rekodi ya nani
nav-conflicts = Migongano ({ $count })
nav-conflicts-hint = Thamani kutoka kompyuta mbili zinazosubiri uamuzi
signed-in-as = Umeingia kama
menu-lock = Funga
menu-switch-user = Badilisha mtumiaji
menu-change-password = Badilisha nywila
menu-language = Lugha
menu-sign-out = Toka
language-saved = Dirisha sasa linazungumza { $language }.

month-1 = Januari
month-2 = Februari
month-3 = Machi
month-4 = Aprili
month-5 = Mei
month-6 = Juni
month-7 = Julai
month-8 = Agosti
month-9 = Septemba
month-10 = Oktoba
month-11 = Novemba
month-12 = Desemba
date-long = { $day } { $month } { $year }
