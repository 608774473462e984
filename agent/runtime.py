"""Runs one turn through agno: shared model client and session DB, a cheap Agent per run.

The run's status is checked; a model error never reaches the user as if it were the answer: the
turn falls back to command mode with a notice instead.
"""
from __future__ import annotations

import logging
import os
from functools import partial
from typing import TYPE_CHECKING

from agno.agent import Agent
from agno.run.agent import RunOutput
from agno.run.base import RunContext, RunStatus
from agno.session import AgentSession
from agno.tools.function import Function

from tools import all_tools
from tools.images import latest_burst
from tools.reminders import with_held_reminders

from .commands import NOT_CONFIGURED, UNAVAILABLE, answer_without_model
from .context import TurnContext, find_turn_context
from .flows import handle_pending_flow, screen_turn
from .memory import trim_session
from .model import AssistantChatModel
from .prompts import load_prompt
from .turn import Reply, Turn
from .vision import agno_images, describe_turn_photos

if TYPE_CHECKING:
    from services import Services

os.environ.setdefault("AGNO_TELEMETRY", "false")
log = logging.getLogger(__name__)
TOOL_CALL_LIMIT = 6
SPOKEN_MARK = "[áudio transcrito]"
AGENT_ID = "assistente-whatsapp"
# Tool results replayed from history (e.g. recall_history's snippets) would otherwise make the
# prompt grow with the chat log; the newest three keep the model's context useful and bounded.
MAX_TOOL_CALLS_IN_HISTORY = 3
STOPPED_MIDWAY = "⚠️ A IA parou no meio da resposta. Isto já foi feito (não precisa pedir de novo):"


def after_run(run_output: RunOutput, session: AgentSession, run_context: RunContext) -> None:
    """agno post-hook: keep the system prompt out of the stored run, and note the session's size.

    agno stores every message of a run, so each run row carried the ~5 KB instructions again (six
    of its seven kilobytes) although history never replays a system message; serialising and
    writing it was the largest part of agno's per-turn storage cost. The number of runs the session
    held when it was read (not the few runs read for history) lets the trim after the turn skip
    its count query while the bound is far off."""
    if run_output.messages:
        run_output.messages = [message for message in run_output.messages if message.role != "system"]
    ctx = find_turn_context(run_context)
    if ctx is not None:
        held = ctx.services.session_db.runs_held(session.session_id)
        ctx.stored_runs = (len(session.runs or []) if held is None else held) + 1


class Assistant:
    """The one assistant of a process. `respond(turn)` is thread-safe."""

    def __init__(self, services: "Services") -> None:
        self.services = services
        self.session_db = services.session_db
        self.tools = all_tools()
        self.instructions = load_prompt("instructions")

    def warm_up(self) -> None:
        """Derive the tools' schemas once at start: agno imports and builds them lazily, which made
        the first turn after every start about 0.1 s slower (measured: bench.appproc, first message)."""
        for tool in self.tools:
            Function.from_callable(tool)

    def respond(self, turn: Turn) -> Reply:
        """Answer one turn: a pending server-side flow first, then the screens (a password typed unasked,
        PARAR/VOLTAR), else the model, else command mode; reminders held for this message go with it."""
        ctx = TurnContext(self.services, turn)
        reply = handle_pending_flow(ctx) or screen_turn(ctx)
        if reply is None:
            reply = answer_without_model(ctx, NOT_CONFIGURED) if self.services.openai is None else self._run_model(ctx)
        return with_held_reminders(ctx, reply)

    def model_input(self, ctx: TurnContext, shown: int = 0) -> str:
        """The text the model reads for a turn: masked text, voice marker, attached (`shown` of them
        as images) or waiting photos, with what the model saw in those."""
        turn, parts = ctx.turn, []
        if turn.image_ids:
            parts.append(f"[{len(turn.image_ids)} foto(s) recebida(s) nesta mensagem"
                         + (", anexada(s) como imagem]" if shown else "]"))
        elif turn.text.strip() and (waiting := latest_burst(ctx.state().waiting_images)):
            seen = "; ".join(dict.fromkeys(r.model_description for r in ctx.state().waiting_images
                                           if r.id in waiting and r.model_description))
            parts.append(f"[{len(waiting)} foto(s) aguardando descrição"
                         + (f" (a IA viu: {seen})" if seen else "")
                         + ": se esta mensagem a descreve, chame save_image]")
        text = turn.text.strip()
        if text:
            parts.append(f"{SPOKEN_MARK} {text}" if turn.spoken else text)
        parts.extend(f"[aviso do sistema, já enviado ao usuário: {notice}]" for notice in turn.notices)
        return "\n".join(parts) or "(mensagem vazia)"

    def build_agent(self) -> Agent:
        """A fresh Agent over the shared model client and session DB (cheap to make)."""
        config = self.services.config
        model = AssistantChatModel(config.openai_model, self.services.openai)
        return Agent(id=AGENT_ID, name="Assistente", model=model, db=self.session_db, tools=self.tools,
                     instructions=self.instructions,
                     add_history_to_context=True, num_history_runs=config.history_runs,
                     max_tool_calls_from_history=MAX_TOOL_CALLS_IN_HISTORY,
                     add_dependencies_to_context=False, tool_call_limit=TOOL_CALL_LIMIT,
                     post_hooks=[after_run], markdown=False, telemetry=False, store_media=False)

    def trim_memory(self, sender: str, stored_runs: int | None = None) -> None:
        """Keep the sender's session within SESSION_MAX_RUNS (half of it once the bound is passed).

        `stored_runs`, when the run's hook saw it, skips the database while the bound is not
        reached. A failure only delays the trim to a later turn; the answer is never held back."""
        config = self.services.config
        if stored_runs is not None and stored_runs <= config.session_max_runs:
            return
        try:
            trim_session(self.session_db, sender, config.session_max_runs,
                         keep=max(config.history_runs, config.session_max_runs // 2))
        except Exception:
            log.warning("could not trim the session memory of %s", sender[-4:], exc_info=True)

    def _run_model(self, ctx: TurnContext) -> Reply:
        turn = ctx.turn
        try:
            shown = describe_turn_photos(ctx)  # the photos as images: questions about them answered from them
            run = self.build_agent().run(self.model_input(ctx, len(shown)), session_id=turn.sender,
                                         user_id=turn.sender, images=agno_images(shown) or None,
                                         dependencies={"turn_context": ctx})
        except Exception:
            log.exception("agent run raised for a turn of %s", turn.sender[-4:])
            run = None
        reply = self._reply_to_run(ctx, run)
        reply.after_send.append(partial(self.trim_memory, turn.sender, ctx.stored_runs))
        return reply

    def _reply_to_run(self, ctx: TurnContext, run) -> Reply:
        """The reply to a model run: its answer, else what its tools did, else command mode."""
        if run is None or run.status != RunStatus.completed or not (run.content or ctx.images_out):
            status = getattr(run, "status", None)
            if ctx.tool_results or ctx.images_out:
                # A list saved, a login question asked, photos found: the user sees what the tools
                # did, so nothing is asked for twice in the dark and a question a flow waits for is seen.
                log.warning("model run failed (status=%s) after %d tool call(s); relaying their results",
                            status, len(ctx.tool_results))
                return self._reply(ctx, STOPPED_MIDWAY, *ctx.tool_results)
            log.warning("model run failed (status=%s); answering in command mode", status)
            return answer_without_model(TurnContext(self.services, ctx.turn), UNAVAILABLE)
        return self._reply(ctx, str(run.content or ""))

    @staticmethod
    def _reply(ctx: TurnContext, *texts: str) -> Reply:
        """The turn's reply: its notices, then `texts`, then what tools asked to send after, and the
        images they found."""
        reply = Reply(images=list(ctx.images_out), inbound_for_log=ctx.turn.text)
        for text in (*ctx.turn.notices, *texts, *ctx.texts_after):
            reply.add(text)
        return reply
