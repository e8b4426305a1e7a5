"""The application layer: one App per process and the service functions every face calls."""

from email_infrastructure.services.app import App, open_app
from email_infrastructure.services.uow import UnitOfWork

__all__ = ["App", "UnitOfWork", "open_app"]
