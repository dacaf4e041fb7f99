# المرضى المسجّلون مرتين على الأرجح، ودمج سجلاتهم.

dup-search-failed-start = تعذّر بدء البحث: { $error }
dup-search-stopped = توقف البحث على نحو غير متوقع.
dup-born = مولود في { $date }
dup-title = مرضى سُجّلوا مرتين على الأرجح
dup-look-again = البحث مجددًا
dup-rule = أزواج بعشر نقاط أو أكثر: أسماء متشابهة (حتى بين الكتابات وبالنطق)، وتاريخ الميلاد أو العمر، والجنس، والهاتف، والهوية الوطنية، والقرية.
dup-merged = دُمج { $retired } في { $survivor }.
dup-open = فتح { $number }
dup-undo = التراجع عن الدمج
dup-looking = جارٍ فحص المرضى…
dup-none = لا توجد سجلات مكررة محتملة (فُحصت الساعة { $time }).
dup-pairs = { $count ->
    [zero] لا أزواج (فُحصت الساعة { $time }).
    [one] زوج واحد (فُحصت الساعة { $time }).
    [two] زوجان (فُحصت الساعة { $time }).
    [few] { $shown } أزواج (فُحصت الساعة { $time }).
    [many] { $shown } زوجًا (فُحصت الساعة { $time }).
   *[other] { $shown } زوج (فُحصت الساعة { $time }).
}
dup-merge-pair = دمج { $first } و{ $second }…
merge-title = دمج سجلين لمريض واحد
merge-which = أي سجل يبقى؟
merge-keep = الإبقاء على { $number }
merge-explain = ستظهر زيارات { $retired } وحساسياته ومشكلاته وصوره ودخوله في الطابور في ملف { $survivor }، والبحث عن { $retired } سيجد { $survivor }. لا يُحذف شيء: يمكن التراجع عن الدمج، ويصل إلى محطات العمل الأخرى في العيادة عند المزامنة التالية.
merge-why = لماذا هما الشخص نفسه
merge-why-hint = مثلًا: الهوية الوطنية نفسها؛ أكّد المريض ذلك
merge-do = دمج
merge-why-first = اذكر أولًا لماذا هما الشخص نفسه.
merge-cancel = إلغاء
merge-done = دُمج { $retired } في { $survivor }. يمكن التراجع عن ذلك من ملف { $survivor }.
merge-undone = تم التراجع عن الدمج: يظهر { $number } وحده من جديد.
merge-also-registered = مسجّل أيضًا برقم { $number }: دُمج هنا في { $date } بواسطة { $name } ({ $reason }).
merge-undo-of = التراجع عن دمج { $number }
merge-undo-hint = يظهر كل سجل وحده من جديد، مع ما كُتب فيه
