"""``kinema studio [--models DIR] [--host 127.0.0.1] [--port 7860]``: without ``--models``, the
bundled models (``kinema.bundled``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kinema.devices import device_option, resolve_device


def register(app: typer.Typer) -> None:
    @app.command("studio")
    def studio(
        models: Optional[Path] = typer.Option(None, help="folder of trained model or run folders "
                                              "(e.g. runs/ after `kinema train`; default: the "
                                              "bundled models, kinema/bundled/models)"),
        host: str = typer.Option("127.0.0.1", help="address to bind; the default serves this "
                                                   "machine only"),
        port: int = typer.Option(7860, help="port"),
        workers: int = typer.Option(1, help="model calls at once"),
        threads: int = typer.Option(0, help="torch threads per call (0: torch's default)"),
        device: Optional[str] = device_option(),
    ) -> None:
        """Open the studio: every trained model under MODELS (default: the bundled models) in one
        page, at http://HOST:PORT."""
        import dataclasses
        import logging

        import uvicorn

        from kinema.serve.app import StudioSettings, create_app
        from kinema.serve.models import models_folder
        from kinema.validate import check_number

        check_number("--port", port, 1, 65535, integer=True)
        check_number("--workers", workers, 1, 64, integer=True)
        check_number("--threads", threads, 0, 1024, integer=True, unit=" (0: torch's default)")
        models = models_folder(models)
        if threads:
            import torch
            torch.set_num_threads(threads)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        settings = dataclasses.replace(StudioSettings(), workers=workers,
                                       device=str(resolve_device(device)))
        # on a loopback address only the loopback names are answered (DNS rebinding); a host
        # given with --host is the user's choice of network and names
        loopback = host in ("127.0.0.1", "localhost", "::1")
        names = (host, "127.0.0.1", "localhost", "[::1]") if loopback else None
        application = create_app(models, settings, allowed_hosts=names)
        found = application.state.store.models
        typer.echo(f"kinema studio: {len(found)} model(s) from {models}: "
                   f"{', '.join(f'{k} ({m.entry})' for k, m in found.items()) or 'none'}")
        typer.echo(f"open http://{host}:{port}/")
        uvicorn.run(application, host=host, port=port, log_level="warning", ws="auto")
