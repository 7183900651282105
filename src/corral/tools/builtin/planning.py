"""Tools that help the model pace itself: todo_write keeps a plan, wait yields for a while."""

from __future__ import annotations

import asyncio
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from corral.tools.base import ToolContext
from corral.tools.builtin._tool import Arguments, BuiltinTool, workdir_of

MAX_WAIT_S = 300.0
_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


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
    """Keeps the agent's plan."""

    name: ClassVar[str] = "todo_write"
    description: ClassVar[str] = (
        "Keep a todo list for the task: give the whole list each time, with each item's status."
    )
    arguments = TodoWriteArgs

    async def call(self, args: TodoWriteArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        workdir = workdir_of(context)
        workdir.save_state("todos", [todo.model_dump() for todo in args.todos])
        if not args.todos:
            return "the todo list is empty"
        done = sum(todo.status == "completed" for todo in args.todos)
        lines = [f"{_MARKS[todo.status]} {todo.content}" for todo in args.todos]
        return "\n".join([*lines, f"{done} of {len(args.todos)} done"])


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

    async def call(self, args: WaitArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        await asyncio.sleep(args.seconds)
        return f"waited {args.seconds:g} s"
