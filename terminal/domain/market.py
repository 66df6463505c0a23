"""Market data: ticks with five-level depth, and candles. All prices are integer paise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field, fields
from operator import attrgetter
from typing import Any, ClassVar, NamedTuple

from terminal.domain.instrument import InstrumentKey


class DepthLevel(NamedTuple):
    """One level of the order book. A named tuple: immutable, and cheap to build per tick."""

    price: int  # paise
    quantity: int  # units
    orders: int = 0


EMPTY_DEPTH: tuple[DepthLevel, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Tick:
    """The latest state of one instrument. Immutable once emitted; a newer tick replaces it.

    ``timestamp`` is epoch seconds (exchange time where the broker gives it). ``close`` is the
    previous session's close, the base of change and change %. Two ticks are equal when every
    field is, whichever Tick subclass built them (see :class:`LazyDepthTick`).
    """

    key: InstrumentKey
    ltp: int
    timestamp: float
    last_quantity: int = 0
    volume: int = 0
    average_price: int = 0
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    open_interest: int = 0
    open_interest_day_open: int = 0
    total_buy_quantity: int = 0
    total_sell_quantity: int = 0
    bids: tuple[DepthLevel, ...] = field(default=EMPTY_DEPTH)
    asks: tuple[DepthLevel, ...] = field(default=EMPTY_DEPTH)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tick):
            return NotImplemented
        return _tick_values(self) == _tick_values(other)

    def __hash__(self) -> int:
        return hash(_tick_values(self))

    @property
    def change(self) -> int:
        return self.ltp - self.close if self.close else 0

    @property
    def change_percent(self) -> float:
        return 100.0 * (self.ltp - self.close) / self.close if self.close else 0.0

    @property
    def open_interest_change(self) -> int:
        return self.open_interest - self.open_interest_day_open if self.open_interest_day_open else 0

    @property
    def best_bid(self) -> int | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> int | None:
        return self.asks[0].price if self.asks else None


TICK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Tick))
_tick_values = attrgetter(*TICK_FIELDS)
_BIDS, _ASKS = TICK_FIELDS.index("bids"), TICK_FIELDS.index("asks")  # the last two
_SOURCE = len(TICK_FIELDS)  # where a PackedTick keeps its depth source

Depth = tuple[tuple[DepthLevel, ...], tuple[DepthLevel, ...]]


class PackedTick(Tick):
    """A Tick whose fields live in one tuple, built in one step by feed decoders.

    A frozen dataclass sets its sixteen fields one ``object.__setattr__`` at a time (about 1.4 us
    per tick); a decoder that receives thousands of frames a second builds the tuple of values
    instead (:func:`packed_tick`, about a sixth of that). Reading a field costs one property
    call. Depth given as ``None`` is read on first use by the class's ``decode_depth(source)``
    and kept: most ticks never have their depth read (the feed keeps only the latest tick per
    instrument, the market watch shows LTP and change), so ten DepthLevels per frame up front
    would be wasted work.

    To every reader this is a Tick: same fields and values, equal to a Tick with the same
    values, hashable, immutable (assignment raises FrozenInstanceError; the kept depth is a
    private memo, not a visible change). ``dataclasses.replace``, ``copy`` and ``pickle`` give
    a plain Tick.
    """

    __slots__ = ("_values",)  # the sixteen field values, then the depth source
    decode_depth: ClassVar[Callable[[Any], Depth] | None] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Tick:  # type: ignore[misc]
        """Called as a class (by dataclasses.replace), it makes a plain Tick."""
        return Tick(*args, **kwargs)

    def __reduce__(self) -> tuple[type[Tick], tuple[Any, ...]]:
        return Tick, _tick_values(self)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _load_depth(self) -> Depth:
        """Decode the depth once and keep it in the values, in place of the source."""
        values = self._values
        if self.decode_depth is None:
            raise TypeError(f"{type(self).__name__} has no decode_depth for its lazy depth")
        depth = self.decode_depth(values[_SOURCE])
        _set_values(self, values[:_BIDS] + depth)
        return depth

    def _bids(self) -> tuple[DepthLevel, ...]:
        bids = self._values[_BIDS]
        return self._load_depth()[0] if bids is None else bids

    def _asks(self) -> tuple[DepthLevel, ...]:
        asks = self._values[_ASKS]
        return self._load_depth()[1] if asks is None else asks

    bids = property(_bids)  # type: ignore[assignment]
    asks = property(_asks)  # type: ignore[assignment]


def _field_reader(index: int) -> property:
    def read(self: PackedTick) -> Any:
        return self._values[index]
    return property(read)


for _index, _name in enumerate(TICK_FIELDS):
    if _name not in ("bids", "asks"):
        setattr(PackedTick, _name, _field_reader(_index))

# The slot's own setter bypasses the frozen __setattr__: only packed_tick and the depth memo use it.
_set_values = PackedTick._values.__set__  # type: ignore[attr-defined]
_new = object.__new__


def packed_tick(cls: type[PackedTick], values: tuple[Any, ...]) -> Tick:
    """A tick of ``cls`` (a PackedTick class) from its sixteen field values in TICK_FIELDS order,
    then one more: the depth source.

    The fast path of feed decoders: no checks, the caller has typed values. ``bids`` and
    ``asks`` may be ``None``: then ``cls.decode_depth(source)`` gives them on first use; the
    source must never change afterwards (pass ``bytes``, not a reused ``bytearray``).
    """
    tick = _new(cls)
    _set_values(tick, values)
    return tick


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar. ``start`` is epoch seconds of the bar's opening moment; prices are paise."""

    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    open_interest: int = 0


# Bar intervals in minutes, as the chart offers them; 1440 is one trading day.
INTERVALS_MINUTES: tuple[int, ...] = (1, 3, 5, 15, 30, 60, 1440)
