"""Method packages. Each ``kinema/methods/<name>/__init__.py`` registers its entries with
``kinema.registry.register_method`` without importing heavy code. Methods never import each
other; shared pieces live in ``kinema.nn``."""
import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
