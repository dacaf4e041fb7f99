# شريط الحالة وزر المزامنة والأدوار بجانب اسم المستخدم.

status-database-file = ملف قاعدة البيانات
status-patients = { $count ->
    [zero] لا مرضى
    [one] مريض واحد
    [two] مريضان
    [few] { $shown } مرضى
    [many] { $shown } مريضًا
   *[other] { $shown } مريض
}
status-last-backup = آخر نسخة احتياطية في { $date }
status-no-backup = لا نسخة احتياطية بعد
status-backup-hint = خذ نسخة احتياطية بالأمر `outpost backup --to FOLDER` (ذاكرة USB) مرة كل { $days } أيام على الأقل
status-icd10-loading = جارٍ تحميل رموز ICD-10…
status-icd10-failed = رموز ICD-10 غير متاحة: { $error }
sync-now = مزامنة الآن
sync-now-with = إرسال التغييرات واستلامها مع { $name } الآن
sync-now-hint = إرسال التغييرات واستلامها الآن
sync-running = المزامنة جارية
sync-connect = الاتصال بالخادم…
sync-connect-hint = ربط محطة العمل هذه بخادم العيادة
sync-waiting = { $count ->
    [zero] لا تغييرات منتظرة
    [one] تغيير واحد منتظر
    [two] تغييران منتظران
    [few] { $shown } تغييرات منتظرة
    [many] { $shown } تغييرًا منتظرًا
   *[other] { $shown } تغيير منتظر
}
sync-all-synced = تمت مزامنة كل التغييرات
sync-to-sync = { $waiting } للمزامنة
sync-not-connected = غير متصل بخادم
sync-offline-waiting = الخادم غير متاح — العمل دون اتصال، { $waiting }
sync-offline = الخادم غير متاح — العمل دون اتصال
sync-failed = فشلت المزامنة: { $error }
sync-online = متصل — آخر مزامنة { $time }
sync-not-yet = متصل — لم تتم المزامنة بعد
sync-with = المزامنة مع { $name }
sync-conflicts = { $count ->
    [zero] لا تعارضات
    [one] تعارض واحد للمراجعة
    [two] تعارضان للمراجعة
    [few] { $shown } تعارضات للمراجعة
    [many] { $shown } تعارضًا للمراجعة
   *[other] { $shown } تعارض للمراجعة
}
sync-conflicts-hint = افتح قائمة القيم التي تنتظر قرارًا
sync-held = { $count ->
    [zero] لا تغييرات محجوزة
    [one] تغيير واحد محجوز
    [two] تغييران محجوزان
    [few] { $shown } تغييرات محجوزة
    [many] { $shown } تغييرًا محجوزًا
   *[other] { $shown } تغيير محجوز
}
sync-pushing = جارٍ المزامنة… { $done } من { $total }
sync-received = جارٍ المزامنة… استُلم { $count }
sync-images = جارٍ المزامنة… نُقلت { $count } صورة
syncing = جارٍ المزامنة…
role-receptionist = الاستقبال
role-nurse = تمريض
role-clinician = طبيب
role-administrator = مسؤول
