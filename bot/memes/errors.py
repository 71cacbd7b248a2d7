"""What can go wrong when making a meme, as typed exceptions.

Every exception here carries a message written for the member who typed the command: one
line, saying what was wrong and what to do. The cog turns them into words by printing
``str(error)``; the attributes are there for logs and for tests.
"""

from __future__ import annotations


class MemeError(Exception):
    """Base class: anything the meme renderer refuses, with a one-line message for people."""


class TemplateInvalid(MemeError, ValueError):
    """A template (or a JSON document meant to be one) breaks a rule of the model."""


class TextTooLong(MemeError):
    """One box's text is longer than the per-box cap."""

    def __init__(self, box: int, length: int, limit: int) -> None:
        self.box = box  # 1-based, as the member counts boxes
        self.length = length
        self.limit = limit
        super().__init__(
            f"Text {box} is {length} characters long; the limit is {limit} per box. "
            "Shorten it and try again."
        )


class TooManyTexts(MemeError):
    """More texts were given than the template has boxes."""

    def __init__(self, given: int, boxes: int, template: str) -> None:
        self.given = given
        self.boxes = boxes
        self.template = template
        plural = "box" if boxes == 1 else "boxes"
        super().__init__(
            f"{template} has {boxes} text {plural} but {given} texts were given; "
            f"use at most {boxes} (separate them with |)."
        )


class BadImage(MemeError):
    """The background or an overlay cannot be used: unreadable, empty, too big, too many frames."""


class OutputTooLarge(MemeError):
    """Even after every reduction the rendered meme is over the size limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"The meme came out at {size / 1_048_576:.1f} MB even after shrinking it; "
            f"the limit is {limit / 1_048_576:.0f} MB. Try a smaller or shorter image."
        )
