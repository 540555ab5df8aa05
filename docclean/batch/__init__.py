"""The cleaning stages over a whole batch of documents at once, column-wise.

`Cleaner.clean_batch` uses these where the per-document reference (`Cleaner.clean` and the
stage modules it calls) spends its time in Python per line or per annotation. Each batch
function gives exactly what the reference gives for every document of the batch (the
equality tests check it, annotation by annotation); it does the common case with numpy over
the batch's code points and hands every case it does not model to the reference function.
"""
