# قائمة المرضى والبحث فيها.

list-search = بحث
list-search-hint = الاسم أو الرقم أو الهاتف أو الهوية أو القرية
list-new-patient = مريض جديد
list-open-chart = فتح الملف
list-open-chart-hint = أو انقر نقرًا مزدوجًا على المريض، أو اضغط Enter
list-search-failed = فشل البحث: { $error }
list-too-many = أكثر من { $limit } نتيجة — تابع الكتابة لتضييق البحث
list-no-match = لا يوجد مريض يطابق «{ $text }».
list-find-at-district = البحث في خادم المنطقة…
list-find-at-district-hint = ابحث عن مريض مسجّل في عيادة أخرى، وافتح سجله هنا مع ذكر السبب
list-matches = { $count ->
    [zero] لا نتائج
    [one] نتيجة واحدة
    [two] نتيجتان
    [few] { $shown } نتائج
    [many] { $shown } نتيجة
   *[other] { $shown } نتيجة
}
list-cannot-show = تعذّر عرض قائمة المرضى: { $error }
list-loading = جارٍ تحميل قائمة المرضى…
list-empty = لا يوجد مرضى بعد. سجّل أول مريض عبر «مريض جديد».
list-registered = { $count ->
    [zero] لا يوجد مرضى مسجّلون
    [one] مريض واحد مسجّل
    [two] مريضان مسجّلان
    [few] { $shown } مرضى مسجّلين
    [many] { $shown } مريضًا مسجّلًا
   *[other] { $shown } مريض مسجّل
}
list-cannot-open = تعذّر فتح الملف: { $error }
list-cannot-read = تعذّرت قراءة قائمة المرضى: { $error }
list-column-number = الرقم
list-column-name = الاسم
list-column-sex = الجنس
list-column-age = العمر
list-column-village = القرية
list-column-phone = الهاتف
list-column-last-visit = آخر زيارة
list-sort-by = الترتيب حسب { $column }
