"""Meme making: templates, fonts and a Pillow renderer, as a pure library.

Nothing here touches Discord, Imgur, the network or the database; nothing here imports
from the rest of ``bot``. The caller does the I/O and runs the CPU work in an executor::

    from bot.memes import (
        FontBook, RenderOptions, Template, classic_template, load_background, render,
        render_preview, split_texts,
    )

    template = Template.from_json(stored_json)          # or classic_template(name, link)
    texts = split_texts(typed_options, len(template.boxes), template.name)
    background = load_background(image_bytes)           # decode once; cache per template
    meme = await loop.run_in_executor(None, render, template, background, texts)
    meme.data, meme.mime, meme.extension                # post it, or upload it to Imgur
    meme.adjustments, meme.notes                        # what was done, what to mention

- ``render_preview`` is the cheap look before uploading (640 px, a still, JPEG q80).
- ``render(..., overlays={name: bytes})`` supplies the template's overlay pictures.
- ``RenderOptions(fonts=FontBook(paths))`` uses configured font files and folders (a
  ``[memes] fonts`` setting); ``FontBook.warm()`` at start-up reads every font once;
  ``FontBook.report().install_command()`` names the Debian packages that are missing.
- Errors are ``MemeError`` subclasses (``TextTooLong``, ``TooManyTexts``, ``BadImage``,
  ``OutputTooLarge``, ``TemplateInvalid``) whose ``str()`` is one line for the member.

The feature around the renderer lives beside it and is not imported here (so importing the
renderer stays free of I/O): ``templates`` (Imgur's, the bot's own and each server's stored
templates; layouts), ``fetch`` (template images from links, without SSRF) and ``service``
(``MemeService``: the catalogue, the images and their cache, rendering on an executor).
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
