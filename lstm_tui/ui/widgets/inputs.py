"""Text boxes whose own keys act in the order they were typed."""

from __future__ import annotations

from textual.events import Key
from textual.widgets import Input


class InOrderInput(Input):
    """An Input whose bindings (ctrl+u, ctrl+w, backspace, Tab…) act among the letters typed
    around them in the order the keys came.

    Textual runs a focused widget's bindings only once the key has bubbled up to the app,
    while Input inserts a letter at once: in a burst of keys (a fast typist, a loaded
    machine, a terminal's paste of keys) "ctrl+u but" could delete "but" too (Textual issue
    #6605). This runs the box's own bindings where the key arrives, as upstream's proposed
    fix does (PR #6631). The app's priority bindings have been checked before the key gets
    here; keys that none of the box's bindings take still bubble up as before.
    """

    async def _on_key(self, event: Key) -> None:
        if event.is_printable:
            return  # Input's own: it inserts the letter
        # The screen's chain holds this box's bindings with the user's [keys] remapping.
        mine = next((m for node, m in self.screen._modal_binding_chain if node is self), None)
        for binding in mine.key_to_bindings.get(event.key, ()) if mine is not None else ():
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return
