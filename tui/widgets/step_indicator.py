"""The wizard's steps, the current one highlighted: ① Name  ② Properties  ③ Tracking."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static


class StepIndicator(Static):
    """Renders the step names with the current step marked and done steps ticked."""

    current: reactive[int] = reactive(0)

    def __init__(self, steps: list[str], id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps = steps

    def render(self) -> str:
        parts = []
        for i, name in enumerate(self.steps):
            if i < self.current:
                parts.append(f"[$success]✓ {i + 1} {name}[/]")
            elif i == self.current:
                parts.append(f"[bold $text on $primary] {i + 1} {name} [/]")
            else:
                parts.append(f"[$text-muted]{i + 1} {name}[/]")
        return "  ›  ".join(parts)
