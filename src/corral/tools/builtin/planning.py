"""Tools that help the model pace itself: todo_write keeps a plan, wait yields for a while."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from corral.tools.base import ToolContext
from corral.tools.builtin._tool import Arguments, BuiltinTool, ask

MAX_WAIT_S = 300.0


class Todo(Arguments):
    """One item of the todo list."""

    content: Annotated[str, Field(min_length=1, max_length=2_000)]
    """What to do."""
    status: Literal["pending", "in_progress", "completed"] = "pending"
    """Where it stands."""


class TodoWriteArgs(Arguments):
    """Arguments of `todo_write`."""

    todos: Annotated[list[Todo], Field(max_length=200)]
    """The whole list, replacing the previous one."""


class TodoWrite(BuiltinTool[TodoWriteArgs]):
    """Keeps the agent's plan, in the environment's own state folder."""

    name: ClassVar[str] = "todo_write"
    description: ClassVar[str] = (
        "Keep a todo list for the task: give the whole list each time, with each item's status."
    )
    arguments = TodoWriteArgs
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: TodoWriteArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        todos = [todo.model_dump() for todo in args.todos]
        return await ask(
            context, "todo_write", {"todos": todos}, payload=json.dumps(todos).encode()
        )


class WaitArgs(Arguments):
    """Arguments of `wait`."""

    seconds: Annotated[float, Field(gt=0, le=MAX_WAIT_S)]
    """How long to wait, e.g. for a background job."""


class Wait(BuiltinTool[WaitArgs]):
    """Yields for a while."""

    name: ClassVar[str] = "wait"
    description: ClassVar[str] = (
        f"Do nothing for up to {MAX_WAIT_S:g} seconds, e.g. while a background job works."
    )
    arguments = WaitArgs
    needs_files: ClassVar[bool] = False
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: WaitArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        await asyncio.sleep(args.seconds)
        return f"waited {args.seconds:g} s"
