# Wagonjwa walioandikishwa mara mbili huenda, na kuwaunganisha.

dup-search-failed-start = Utafutaji haukuweza kuanza: { $error }
dup-search-stopped = Utafutaji umesimama bila kutarajia.
dup-born = alizaliwa { $date }
dup-title = Wagonjwa walioandikishwa mara mbili huenda
dup-look-again = Tafuta tena
dup-rule = Jozi zenye alama 10 au zaidi: majina yanayofanana (hata kwa maandishi mengine na kwa sauti), tarehe ya kuzaliwa au umri, jinsia, simu, kitambulisho na kijiji vimelinganishwa.
dup-merged = { $retired } imeunganishwa na { $survivor }.
dup-open = Fungua { $number }
dup-undo = Tendua muunganiko
dup-looking = Inapitia wagonjwa…
dup-none = Hakuna nakala zinazowezekana (imeangaliwa saa { $time }).
dup-pairs = { $count ->
    [one] Jozi 1 (imeangaliwa saa { $time }).
   *[other] Jozi { $shown } (imeangaliwa saa { $time }).
}
dup-merge-pair = Unganisha { $first } na { $second }…
merge-title = Unganisha rekodi mbili za mgonjwa mmoja
merge-which = Rekodi ipi ibaki?
merge-keep = Baki na { $number }
merge-explain = Ziara, mzio, matatizo, picha na foleni za { $retired } zitaonekana kwenye faili la { $survivor }, na kutafuta { $retired } kutampata { $survivor }. Hakuna kinachofutwa: muunganiko unaweza kutenduliwa, na unafika kwenye kompyuta nyingine za kliniki usawazishaji ujao.
merge-why = Kwa nini ni mtu mmoja
merge-why-hint = k.m. kitambulisho kilekile; amethibitisha mgonjwa mwenyewe
merge-do = Unganisha
merge-why-first = Sema kwanza kwa nini ni mtu mmoja.
merge-cancel = Ghairi
merge-done = { $retired } imeunganishwa na { $survivor }. Inaweza kutenduliwa kutoka kwenye faili la { $survivor }.
merge-undone = Muunganiko umetenduliwa: { $number } inaonekana peke yake tena.
merge-also-registered = Pia ameandikishwa kama { $number }: imeunganishwa hapa tarehe { $date } na { $name } ({ $reason }).
merge-undo-of = Tendua muunganiko wa { $number }
merge-undo-hint = Kila rekodi inaonekana peke yake tena, pamoja na kilichoandikwa ndani yake
