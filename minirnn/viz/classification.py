"""A classifier's report for the terminal: the per-class table and the confusion matrix, as strings.

Both take a ``minirnn.train.classification_metrics.ClassificationReport``::

    print(classification_table(report))
    class     precision  recall     F1  support
    --------  ---------  ------  -----  -------
    negative      0.912   0.880  0.896      125
    ...
    accuracy                     0.853     1200
    macro avg     0.801   0.790  0.795     1200

    print(confusion_table(report))
    confusion matrix (rows: true class, columns: predicted class, · = 0)
                   1    2
     1 negative  110   15
     2 positive    9  116

Nothing here prints.
"""

from __future__ import annotations


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def classification_table(report) -> str:
    """Precision, recall, F1 and support per class, then accuracy and the macro and weighted averages.

    A class with neither true texts nor predictions shows "-" for its rates (it is not
    part of the macro average).
    """
    header = ["class", "precision", "recall", "F1", "support"]
    rows = []
    for row in report.rows:
        rates = ([_fmt(row.precision), _fmt(row.recall), _fmt(row.f1)] if row.support or row.predicted
                 else ["-", "-", "-"])
        rows.append([row.name, *rates, str(row.support)])
    total = str(report.total)
    summary = [
        ["accuracy", "", "", _fmt(report.accuracy), total],
        ["macro avg", _fmt(report.macro_precision), _fmt(report.macro_recall), _fmt(report.macro_f1), total],
        ["weighted avg", "", "", _fmt(report.weighted_f1), total],
    ]
    widths = [max(len(r[c]) for r in [header, *rows, *summary]) for c in range(len(header))]

    def line(cells):
        return "  ".join([cells[0].ljust(widths[0])] + [cells[c].rjust(widths[c]) for c in range(1, len(cells))])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows), rule, *(line(r) for r in summary)]).rstrip()


def confusion_table(report, max_name: int = 24) -> str:
    """The confusion matrix with numbered columns: row ``i`` is the true class ``i``, column ``j`` the prediction.

    Zeros are drawn as ``·`` so that the diagonal (the correct predictions) and the
    mistakes stand out. Class names longer than ``max_name`` are cut with "…".
    """
    counts = report.confusion
    names = [str(c) if len(str(c)) <= max_name else str(c)[: max_name - 1] + "…" for c in report.classes]
    numbers = [str(i + 1) for i in range(len(names))]
    cells = [["·" if v == 0 else str(int(v)) for v in row] for row in counts.tolist()]
    width = max(len(x) for x in numbers + [c for row in cells for c in row])
    label_width = max(len(n) for n in numbers) + 1 + max(len(n) for n in names)
    lines = ["confusion matrix (rows: true class, columns: predicted class, · = 0)",
             " " * label_width + "  " + " ".join(n.rjust(width) for n in numbers)]
    for number, name, row in zip(numbers, names, cells):
        label = f"{number.rjust(len(numbers[-1]))} {name}"
        lines.append(label.ljust(label_width) + "  " + " ".join(c.rjust(width) for c in row))
    return "\n".join(lines)
