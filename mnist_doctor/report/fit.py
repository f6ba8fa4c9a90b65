"""Tables that fit the width they are printed at, with no word broken.

Rich squeezes a table that is too wide by folding cells character by character, which breaks
`completed` into `complete`/`d`. A `FittedTable` decides itself, at render time, what fits the
console's width, in this order, stopping at the first that fits:

1. every column, full headers; a run name folds (at `-`, `,` or `[`) if space is short;
2. short headers (`Train acc` -> `Train`);
3. columns dropped one at a time by their stated priority (`drop`: 1 goes first; 0 never).

Every other cell is kept whole (`no_wrap`), and text columns (`wrap`) break only between words.
Dropped columns are named in the caption so a reader knows they exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

FIXED, NAME, WRAP = "fixed", "name", "wrap"
NAME_MIN = 12  # a folded run name keeps at least this many cells per line (when it has them)


@dataclass(frozen=True)
class Column:
    header: str
    justify: str = "left"
    short: str | None = None  # the header when space is short
    drop: int = 0  # drop order when the table cannot fit: 1 first, 2 next; 0 never
    kind: str = FIXED  # fixed: never wrapped | name: folded at - , [ | wrap: between words


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""
    markup: bool = False  # text holds rich markup ([bold red]FAIL[/]), not shown literally

    def rich(self) -> Text:
        return (Text.from_markup(self.text, style=self.style) if self.markup
                else Text(self.text, style=self.style))

    @property
    def plain(self) -> str:
        return self.rich().plain


class FittedTable:
    """A rich renderable: the table built for whatever width it is printed at."""

    def __init__(self, columns: list[Column], rows: list[list[Cell]], title: str | None = None,
                 caption: str | None = None):
        self.columns, self.rows, self.title, self.caption = columns, rows, title, caption

    def __rich_console__(self, console, options):
        yield self.at(options.max_width)

    def at(self, width: int) -> Table:
        """The table laid out for `width` cells (see the module docstring)."""
        keep, short, widths = self.layout(width)
        hidden = [self.columns[i].header for i in range(len(self.columns)) if i not in keep]
        caption = "; ".join(filter(None, (self.caption, f"not shown at this width: "
                                          f"{', '.join(hidden)}" if hidden else "")))
        table = Table(title=self.title, caption=caption or None, header_style="bold")
        for index in keep:
            column = self.columns[index]
            header = (column.short or column.header) if short else column.header
            table.add_column(header, justify=column.justify, no_wrap=column.kind != WRAP,
                             overflow="fold",
                             width=widths[index] if column.kind != FIXED else None)
        for row in self.rows:
            table.add_row(*(self._text(row[i], self.columns[i], widths[i]) for i in keep))
        return table

    def layout(self, width: int) -> tuple[list[int], bool, dict[int, int]]:
        """(kept column indices, short headers?, each column's width) for `width`."""
        order = sorted((c.drop, i) for i, c in enumerate(self.columns) if c.drop)
        attempts = [(0, False), (0, True)] + [(n, True) for n in range(1, len(order) + 1)]
        for dropped, short in attempts:
            gone = {i for _, i in order[:dropped]}
            keep = [i for i in range(len(self.columns)) if i not in gone]
            widths = self._widths(keep, short, width, NAME_MIN)
            if widths is not None:
                return keep, short, widths
        keep = [i for i, c in enumerate(self.columns) if not c.drop]
        widths = self._widths(keep, True, width, 1)  # names fold to their longest piece
        return keep, True, widths or {i: self._minimum(i, True, 1) for i in keep}

    def _widths(self, keep: list[int], short: bool, width: int,
                floor: int) -> dict[int, int] | None:
        """Widths that fit, giving spare room to name and text columns; None if none fit."""
        widths = {i: self._minimum(i, short, floor) for i in keep}
        spare = width - (3 * len(keep) + 1) - sum(widths.values())  # borders and padding
        if spare < 0:
            return None
        wants = {i: self._natural(i, short) - widths[i] for i in keep}
        total = sum(wants.values())
        for i in keep:  # spare room shared in proportion to what each column lacks
            widths[i] += min(wants[i], spare * wants[i] // total) if total else 0
        leftover = width - (3 * len(keep) + 1) - sum(widths.values())
        for i in keep:
            grow = max(0, min(leftover, self._natural(i, short) - widths[i]))
            widths[i] += grow
            leftover -= grow
        return widths

    def _header(self, index: int, short: bool) -> str:
        column = self.columns[index]
        return (column.short or column.header) if short else column.header

    def _natural(self, index: int, short: bool) -> int:
        cells = [cell_len(row[index].plain) for row in self.rows]
        return max([cell_len(self._header(index, short)), *cells])

    def _minimum(self, index: int, short: bool, floor: int) -> int:
        column = self.columns[index]
        if column.kind == FIXED:
            return self._natural(index, short)
        pieces = [piece for row in self.rows for piece in
                  (name_pieces(row[index].plain) if column.kind == NAME
                   else row[index].plain.split())]
        longest = max([cell_len(self._header(index, short)), *map(cell_len, pieces)])
        return min(max(longest, floor if column.kind == NAME else 0),
                   self._natural(index, short))

    @staticmethod
    def _text(cell: Cell, column: Column, width: int) -> Text:
        if column.kind == NAME:
            return Text(fold_name(cell.plain, width), style=cell.style)
        return cell.rich()


def name_pieces(name: str) -> list[str]:
    """A run name cut after each '-' or ',' and before each '[': where it may fold."""
    return [piece for piece in re.split(r"(?<=[-,])|(?=\[)", name) if piece]


def fold_name(name: str, width: int) -> str:
    """`name` in lines of at most `width` cells, broken at name_pieces boundaries (a piece
    longer than a line is cut)."""
    lines = [""]
    for piece in name_pieces(name):
        while cell_len(piece) > width:  # no boundary inside: cut it
            room = width - cell_len(lines[-1]) if lines[-1] else width
            lines[-1] += piece[:room]
            piece = piece[room:]
            lines.append("")
        if lines[-1] and cell_len(lines[-1] + piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line for line in lines if line)
