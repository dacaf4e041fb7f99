# Patients likely registered twice, and merging them.

dup-search-failed-start = The search could not start: { $error }
dup-search-stopped = The search stopped unexpectedly.
dup-born = born { $date }
dup-title = Patients likely registered twice
dup-look-again = Look again
dup-rule = Pairs scoring 10 or more: names alike (also across scripts and by sound), the date of birth or age, sex, phone, national ID and village compared.
dup-merged = Merged { $retired } into { $survivor }.
dup-open = Open { $number }
dup-undo = Undo the merge
dup-looking = Looking through the patients…
dup-none = No likely duplicates (looked at { $time }).
dup-pairs = { $count ->
    [one] 1 pair (looked at { $time }).
   *[other] { $shown } pairs (looked at { $time }).
}
dup-merge-pair = Merge { $first } and { $second }…
merge-title = Merge two records of one patient
merge-which = Which record stays?
merge-keep = Keep { $number }
merge-explain = { $retired }'s visits, allergies, problems, images and queue entries will show in { $survivor }'s chart, and searching { $retired } will find { $survivor }. Nothing is deleted: the merge can be undone, and it reaches the clinic's other workstations at the next sync.
merge-why = Why they are one person
merge-why-hint = e.g. same national ID; confirmed with the patient
merge-do = Merge
merge-why-first = Say why they are one person first.
merge-cancel = Cancel
merge-done = Merged { $retired } into { $survivor }. It can be undone from { $survivor }'s chart.
merge-undone = The merge was undone: { $number } shows on its own again.
merge-also-registered = Also registered as { $number }: merged here on { $date } by { $name } ({ $reason }).
merge-undo-of = Undo the merge of { $number }
merge-undo-hint = Each record shows on its own again, with what was written to it
