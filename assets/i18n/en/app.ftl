# The window's frame: the top bar, the user's menu, the status bar, dates.

app-name = Outpost
nav-patients = Patients
nav-today = Today
nav-today-hint = The day's queue: arrivals, triage, who is next
nav-reports = Reports
nav-reports-hint = The monthly report for the ministry
nav-duplicates = Duplicates
nav-duplicates-hint = Patients likely registered twice
nav-users = Users
nav-users-hint = The clinic's users, their roles and passwords
nav-audit = Audit
nav-audit-hint = Who did what, when, to whose record
nav-conflicts = Conflicts ({ $count })
nav-conflicts-hint = Values from two workstations that need a decision
signed-in-as = Signed in as
menu-lock = Lock
menu-switch-user = Switch user
menu-change-password = Change password
menu-language = Language
menu-sign-out = Sign out
language-saved = The window now speaks { $language }.

month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
date-long = { $day } { $month } { $year }
