# إطار النافذة: الشريط العلوي وقائمة المستخدم وشريط الحالة والتواريخ.

app-name = Outpost
nav-patients = المرضى
nav-today = اليوم
nav-today-hint = طابور اليوم: الوافدون والفرز ومن التالي
nav-reports = التقارير
nav-reports-hint = التقرير الشهري للوزارة
nav-duplicates = السجلات المكررة
nav-duplicates-hint = مرضى سُجّلوا مرتين على الأرجح
nav-users = المستخدمون
nav-users-hint = مستخدمو العيادة وأدوارهم وكلمات مرورهم
nav-audit = سجل التدقيق
nav-audit-hint = من فعل ماذا ومتى وفي سجل من
nav-conflicts = تعارضات ({ $count })
nav-conflicts-hint = قيم من محطتي عمل تنتظر قرارًا
signed-in-as = تم تسجيل الدخول باسم
menu-lock = قفل
menu-switch-user = تبديل المستخدم
menu-change-password = تغيير كلمة المرور
menu-language = اللغة
menu-sign-out = تسجيل الخروج
language-saved = النافذة تتحدث الآن { $language }.

month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر
date-long = { $day } { $month } { $year }
