"""Meme making: templates, fonts and a Pillow renderer, as a pure library.

Nothing here touches Discord, Imgur, the network or the database. The cog (or a service)
does the I/O and calls, in an executor because it is CPU work::

    from bot.memes import Template, classic_template, load_background, render, split_texts

    template = Template.from_json(stored_json)            # or classic_template(name, link)
    texts = split_texts(options_typed, len(template.boxes), template.name)
    background = load_background(image_bytes)             # decode once, cache if you like
    meme = await loop.run_in_executor(None, render, template, background, texts)
    meme.data, meme.mime, meme.extension                  # ready to post or upload

Errors are ``MemeError`` subclasses whose ``str()`` is one line for the member.
"""

from .errors import (
    BadImage,
    MemeError,
    OutputTooLarge,
    TemplateInvalid,
    TextTooLong,
    TooManyTexts,
)
from .fonts import FontBook, FontReport, default_font_book, missing_font_packages
from .images import Background, ImageLimits, load_background
from .model import Overlay, Template, TextBox, classic_boxes, classic_template, slugify
from .render import (
    PREVIEW_OPTIONS,
    Rendered,
    RenderOptions,
    clear_caches,
    render,
    render_preview,
)
from .text import clean_text, split_texts

__all__ = [
    "PREVIEW_OPTIONS",
    "Background",
    "BadImage",
    "FontBook",
    "FontReport",
    "ImageLimits",
    "MemeError",
    "OutputTooLarge",
    "Overlay",
    "RenderOptions",
    "Rendered",
    "Template",
    "TemplateInvalid",
    "TextBox",
    "TextTooLong",
    "TooManyTexts",
    "classic_boxes",
    "classic_template",
    "clean_text",
    "clear_caches",
    "default_font_book",
    "load_background",
    "missing_font_packages",
    "render",
    "render_preview",
    "slugify",
    "split_texts",
]
