# Orodha ya wagonjwa na utafutaji wake.

list-search = Tafuta
list-search-hint = Jina, namba, simu, kitambulisho au kijiji
list-new-patient = Mgonjwa mpya
list-open-chart = Fungua faili
list-open-chart-hint = Au bofya mara mbili kwenye mgonjwa, au bonyeza Enter
list-search-failed = Utafutaji umeshindikana: { $error }
list-too-many = Zaidi ya matokeo { $limit } — endelea kuandika ili kupunguza
list-no-match = Hakuna mgonjwa anayelingana na “{ $text }”.
list-find-at-district = Tafuta kwenye seva ya wilaya…
list-find-at-district-hint = Tafuta mgonjwa aliyeandikishwa kliniki nyingine, na ufungue rekodi yake hapa kwa sababu
list-matches = { $count ->
    [one] Tokeo 1
   *[other] Matokeo { $shown }
}
list-cannot-show = Orodha ya wagonjwa haiwezi kuonyeshwa: { $error }
list-loading = Inapakia orodha ya wagonjwa…
list-empty = Bado hakuna wagonjwa. Mwandikishe wa kwanza kwa “Mgonjwa mpya”.
list-registered = { $count ->
    [one] Mgonjwa 1 ameandikishwa
   *[other] Wagonjwa { $shown } wameandikishwa
}
list-cannot-open = Haiwezekani kufungua faili: { $error }
list-cannot-read = Haiwezekani kusoma orodha ya wagonjwa: { $error }
list-column-number = Namba
list-column-name = Jina
list-column-sex = Jinsia
list-column-age = Umri
list-column-village = Kijiji
list-column-phone = Simu
list-column-last-visit = Ziara ya mwisho
list-sort-by = Panga kwa { $column }
