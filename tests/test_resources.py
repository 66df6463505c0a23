"""Bundled files are found from the source checkout and from a frozen bundle alike."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest

from terminal import resources


def test_source_checkout_has_every_icon():
    root = resources.resource_root()
    assert (root / "icons" / "app.svg").is_file()
    for size in resources.APP_ICON_SIZES:
        assert (root / "icons" / f"app-{size}.png").is_file(), size
    names = resources.toolbar_icon_names()
    for needed in ("buy", "sell", "order_book", "positions", "chart", "search", "settings", "export_csv",
                   "workspace", "refresh", "cancel_all", "square_off", "about"):
        assert needed in names


@pytest.mark.parametrize("name", resources.toolbar_icon_names())
def test_toolbar_icons_are_tintable_line_svgs(name):
    text = (resources.resource_root() / "icons" / "toolbar" / f"{name}.svg").read_text(encoding="utf-8")
    svg = ET.fromstring(text)
    assert svg.get("viewBox") == "0 0 24 24"
    assert "currentColor" in text and "<image" not in text and "href" not in text  # drawn, not embedded
    tinted = resources.tinted_svg(name, "#123456").decode()
    assert "currentColor" not in tinted and "#123456" in tinted


def test_frozen_bundle_looks_in_meipass(monkeypatch, tmp_path):
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    (tmp_path / "resources" / "icons" / "app.svg").write_text("<svg/>")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.is_frozen()
    assert resources.resource_root() == tmp_path / "resources"
    assert resources.resource_path("icons/app.svg").read_text() == "<svg/>"


def test_override_and_a_clear_error_for_a_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv(resources.ENV_OVERRIDE, str(tmp_path))
    assert resources.resource_root() == tmp_path
    with pytest.raises(resources.ResourceMissing, match="Reinstall"):
        resources.resource_path("icons/app.svg")


def test_icons_render_in_the_colour_asked(qapp):
    icon = resources.icon("buy", "#ff0000")
    image = icon.pixmap(48, 48).toImage()
    painted = [image.pixelColor(x, y) for x in range(48) for y in range(48) if image.pixelColor(x, y).alpha()]
    assert painted, "the icon drew nothing"
    strong = [c for c in painted if c.alpha() > 200]
    assert strong and all(c.red() > 200 and c.green() < 40 and c.blue() < 40 for c in strong)
    app_icon = resources.app_icon()
    assert not app_icon.isNull() and 256 in [s.width() for s in app_icon.availableSizes()]


def test_png_sizes_match_their_names(qapp):
    from PySide6.QtGui import QImage

    for size in resources.APP_ICON_SIZES:
        image = QImage(str(resources.resource_path(f"icons/app-{size}.png")))
        assert (image.width(), image.height()) == (size, size)
