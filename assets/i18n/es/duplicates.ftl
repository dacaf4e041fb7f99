# Pacientes probablemente registrados dos veces, y su fusión.

dup-search-failed-start = La búsqueda no pudo empezar: { $error }
dup-search-stopped = La búsqueda se detuvo de forma inesperada.
dup-born = nació el { $date }
dup-title = Pacientes probablemente registrados dos veces
dup-look-again = Buscar de nuevo
dup-rule = Pares con 10 puntos o más: nombres parecidos (también entre escrituras y por el sonido), fecha de nacimiento o edad, sexo, teléfono, documento y comunidad comparados.
dup-merged = { $retired } fusionado con { $survivor }.
dup-open = Abrir { $number }
dup-undo = Deshacer la fusión
dup-looking = Revisando los pacientes…
dup-none = Ningún duplicado probable (revisado a las { $time }).
dup-pairs = { $count ->
    [one] 1 par (revisado a las { $time }).
   *[other] { $shown } pares (revisado a las { $time }).
}
dup-merge-pair = Fusionar { $first } y { $second }…
merge-title = Fusionar dos expedientes de un mismo paciente
merge-which = ¿Qué expediente se queda?
merge-keep = Conservar { $number }
merge-explain = Las consultas, alergias, problemas, imágenes y llegadas a la cola de { $retired } se mostrarán en el expediente de { $survivor }, y buscar { $retired } encontrará { $survivor }. No se borra nada: la fusión se puede deshacer y llega a los demás puestos del centro en la próxima sincronización.
merge-why = Por qué son la misma persona
merge-why-hint = p. ej. mismo documento; confirmado con el paciente
merge-do = Fusionar
merge-why-first = Diga primero por qué son la misma persona.
merge-cancel = Cancelar
merge-done = { $retired } fusionado con { $survivor }. Se puede deshacer desde el expediente de { $survivor }.
merge-undone = Se deshizo la fusión: { $number } vuelve a mostrarse por separado.
merge-also-registered = También registrado como { $number }: fusionado aquí el { $date } por { $name } ({ $reason }).
merge-undo-of = Deshacer la fusión de { $number }
merge-undo-hint = Cada expediente vuelve a mostrarse por separado, con lo que se escribió en él
