from typing import Any

from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "Remote release promotions"

    def ready(self) -> None:
        from spaces import signals

        signals.dashboard_page.connect(_dashboard, dispatch_uid="promotions-dashboard")


def _dashboard(sender: Any, **kwargs: Any) -> Any:
    from promotions.pages import dashboard_panel

    return dashboard_panel(kwargs["request"])
