# The patient list and its search.

list-search = Search
list-search-hint = Name, number, phone, ID or village
list-new-patient = New patient
list-open-chart = Open chart
list-open-chart-hint = Or double-click the patient, or press Enter
list-search-failed = The search failed: { $error }
list-too-many = More than { $limit } matches — keep typing to narrow
list-no-match = No patient matches “{ $text }”.
list-find-at-district = Find at the district server…
list-find-at-district-hint = Look for a patient registered at another clinic, and open their record here with a reason
list-matches = { $count ->
    [one] 1 match
   *[other] { $shown } matches
}
list-cannot-show = The patient list cannot be shown: { $error }
list-loading = Loading the patient list…
list-empty = No patients yet. Register the first one with “New patient”.
list-registered = { $count ->
    [one] 1 patient registered
   *[other] { $shown } patients registered
}
list-cannot-open = Cannot open the chart: { $error }
list-cannot-read = Cannot read the patient list: { $error }
list-column-number = Number
list-column-name = Name
list-column-sex = Sex
list-column-age = Age
list-column-village = Village
list-column-phone = Phone
list-column-last-visit = Last visit
list-sort-by = Sort by { $column }
