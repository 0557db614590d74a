"""The model folder a verb reads: the one the user named (``--model FOLDER`` or a bundled model's
name, ``--model dynamics``) or, without one, the bundled model that is the verb's default
(``kinema.bundled``: the first bundled entry listing the verb, or the one of ``--method``).

Methods' own commands (``kinema poke``, ``edit``, ``track``, ``transfer``) call ``model_for``; the
shared verbs (``kinema animate``, ``sample``) first check ``--method`` against the registry
(``kinema.apps``) so that a method without the verb is named as such. Help texts say the default
with ``model_help``, from ``kinema.bundled.BUNDLED`` (nothing on disk is read to print a help).
"""
from __future__ import annotations

from pathlib import Path

from kinema import bundled


def model_for(verb: str, given=None, family: str | None = None) -> Path:
    """The folder ``kinema VERB`` reads: ``given`` (a folder, or a bundled name made its folder),
    else the verb's bundled default (of ``family`` when given); a missing bundled model is
    ``kinema.bundled.folder``'s one-sentence error naming the file and its make target."""
    if given is not None:
        return bundled.resolve(given)
    return bundled.for_verb(verb, family)


def default_names(verb: str) -> list[str]:
    """The bundled models serving ``kinema VERB``, its default first."""
    return [b.name for b in bundled.BUNDLED if verb in b.verbs]


def model_help(verb: str, what: str = "a trained model folder (or its run folder)",
               flag: str = "--model") -> str:
    """The help of ``flag`` (the option or argument naming the model): ``what``, or a bundled
    model's name; its default, and the other bundled models that serve the verb."""
    names = default_names(verb)
    if not names:
        return what
    others = f"; --method or {flag} picks {', '.join(names[1:])}" if len(names) > 1 else ""
    return (f"{what}, or a bundled model's name (default: the bundled {names[0]} model, "
            f"kinema/bundled/models/{names[0]}{others})")
