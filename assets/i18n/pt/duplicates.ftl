# Pacientes provavelmente registados duas vezes, e a sua fusão.

dup-search-failed-start = A pesquisa não pôde começar: { $error }
dup-search-stopped = A pesquisa parou inesperadamente.
dup-born = nasceu a { $date }
dup-title = Pacientes provavelmente registados duas vezes
dup-look-again = Procurar de novo
dup-rule = Pares com 10 pontos ou mais: nomes parecidos (também entre escritas e pelo som), data de nascimento ou idade, sexo, telefone, documento e aldeia comparados.
dup-merged = { $retired } fundido em { $survivor }.
dup-open = Abrir { $number }
dup-undo = Anular a fusão
dup-looking = A rever os pacientes…
dup-none = Nenhum duplicado provável (revisto às { $time }).
dup-pairs = { $count ->
    [one] 1 par (revisto às { $time }).
   *[other] { $shown } pares (revisto às { $time }).
}
dup-merge-pair = Fundir { $first } e { $second }…
merge-title = Fundir dois processos do mesmo paciente
merge-which = Que processo fica?
merge-keep = Manter { $number }
merge-explain = As consultas, alergias, problemas, imagens e entradas na fila de { $retired } aparecerão no processo de { $survivor }, e pesquisar { $retired } encontrará { $survivor }. Nada é apagado: a fusão pode ser anulada e chega aos outros postos do centro na próxima sincronização.
merge-why = Porque são a mesma pessoa
merge-why-hint = p. ex. mesmo documento; confirmado com o paciente
merge-do = Fundir
merge-why-first = Diga primeiro porque são a mesma pessoa.
merge-cancel = Cancelar
merge-done = { $retired } fundido em { $survivor }. Pode ser anulado a partir do processo de { $survivor }.
merge-undone = A fusão foi anulada: { $number } volta a aparecer sozinho.
merge-also-registered = Também registado como { $number }: fundido aqui a { $date } por { $name } ({ $reason }).
merge-undo-of = Anular a fusão de { $number }
merge-undo-hint = Cada processo volta a aparecer sozinho, com o que nele foi escrito
