"""Client tools: plain functions, sync or async, executed here while `run()` follows the run."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from corral.client import Corral, Tool, tool
from corral.types.events import ClientToolCall, ClientToolResult


def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number,
            which defaults to two.
    """
    return a + b


async def slow_add(a: int, b: int = 2) -> int:
    """Add two numbers, slowly."""
    await asyncio.sleep(0.01)
    return a + b


def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot {reason}")


async def explode_later(reason: str) -> str:
    """Always fails, after a while."""
    await asyncio.sleep(0.01)
    raise RuntimeError(f"cannot {reason}")


class Order(BaseModel):
    """An order to look up."""

    order_id: str = Field(description="The order's id, like A-1.")
    quantity: int = 1


@pytest.mark.parametrize("function", [add, slow_add], ids=["sync_tool", "async_tool"])
async def test_run_executes_a_plain_function_tool_and_returns_the_final_run(sdk, function):
    seen: list[Any] = []

    run = await sdk.run(
        model="test",
        input=f'[[call {function.__name__} {{"a": 40}}]] add',
        tools=[function],
        on_event=seen.append,
    )

    assert run.status == "completed"
    assert run.output == f"{function.__name__} returned: 42"
    results = [e for e in seen if isinstance(e, ClientToolResult)]
    assert [(r.output, r.error) for r in results] == [("42", None)]
    assert seen == await sdk.runs.events(run.id)


@pytest.mark.parametrize("function", [explode, explode_later], ids=["sync_tool", "async_tool"])
async def test_an_exception_in_a_tool_is_posted_as_its_error_and_the_model_sees_it(sdk, function):
    run = await sdk.run(model="test", input="go", tools=[function])

    kind = "ValueError" if function is explode else "RuntimeError"
    assert run.output == f"{function.__name__} failed: {kind}: cannot example"
    [result] = [e for e in await sdk.runs.events(run.id) if isinstance(e, ClientToolResult)]
    assert (result.output, result.error) == (None, f"{kind}: cannot example")


async def test_the_async_client_awaits_async_on_event_callbacks(acorral):
    seen = []

    async def record(event):
        await asyncio.sleep(0)
        seen.append(event.type)

    run = await acorral.run(model="test", input="hi", on_event=record)

    assert seen[0] == "run.started" and seen[-1] == "run.completed"
    assert run.output == "hi"


def test_the_schema_and_descriptions_come_from_hints_and_the_docstring():
    made = tool(add)

    assert isinstance(made, Tool)
    assert made.to_ref() == {
        "type": "client",
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "description": "The first number."},
                "b": {
                    "type": "integer",
                    "default": 2,
                    "description": "The second number, which defaults to two.",
                },
            },
            "required": ["a"],
            "additionalProperties": False,
        },
    }


def test_the_decorator_can_rename_and_describe_a_tool():
    @tool(name="convert", description="Convert a temperature.")
    def to_fahrenheit(celsius: float, unit: Literal["F", "K"] = "F") -> float:
        """Ignored summary."""
        return celsius * 9 / 5 + 32

    assert (to_fahrenheit.name, to_fahrenheit.description) == ("convert", "Convert a temperature.")
    assert to_fahrenheit.parameters["properties"]["unit"] == {
        "enum": ["F", "K"],
        "type": "string",
        "default": "F",
    }
    assert to_fahrenheit.call({"celsius": 100}) == ("212.0", None)


async def test_a_pydantic_model_parameter_gives_the_schema_and_the_validated_value(sdk):
    received: list[Order] = []

    def find_order(order: Order, verbose: bool = False) -> dict[str, Any]:
        """Find an order.

        Args:
            order: What to look for.
            verbose: Include the details.
        """
        received.append(order)
        return {"id": order.order_id, "quantity": order.quantity, "verbose": verbose}

    agent = await sdk.agents.create(name="orders", model="test", tools=[find_order])
    run = await sdk.runs.create(
        agent="orders", input='[[call find_order {"order": {"order_id": "A-1", "quantity": "3"}}]]'
    )
    ended = await sdk.runs.follow(run.id, tools=[find_order])

    [stored] = agent.tools
    assert (stored.name, stored.description) == ("find_order", "Find an order.")
    assert stored.parameters == {
        "type": "object",
        "$defs": {
            "Order": {
                "description": "An order to look up.",
                "properties": {
                    "order_id": {
                        "description": "The order's id, like A-1.",
                        "title": "Order Id",
                        "type": "string",
                    },
                    "quantity": {"default": 1, "title": "Quantity", "type": "integer"},
                },
                "required": ["order_id"],
                "title": "Order",
                "type": "object",
            }
        },
        "properties": {
            "order": {"$ref": "#/$defs/Order", "description": "What to look for."},
            "verbose": {"type": "boolean", "default": False, "description": "Include the details."},
        },
        "required": ["order"],
        "additionalProperties": False,
    }
    assert received == [Order(order_id="A-1", quantity=3)]
    assert ended.output == 'find_order returned: {"id":"A-1","quantity":3,"verbose":false}'


async def test_arguments_that_do_not_validate_are_reported_to_the_model(sdk):
    def find_order(order: Order) -> str:
        raise AssertionError("never called with invalid arguments")

    run = await sdk.run(
        model="test", input='[[call find_order {"order": {"quantity": 2}}]]', tools=[find_order]
    )

    assert run.output == "find_order failed: invalid arguments: order.order_id: Field required"


async def test_a_call_to_a_tool_this_process_does_not_have_is_answered_with_an_error(sdk):
    run = await sdk.run(
        model="test",
        input="go",
        tools=[{"type": "client", "name": "elsewhere", "parameters": {"type": "object"}}],
    )

    assert run.output == "elsewhere failed: no client tool named 'elsewhere' in this process"


async def test_the_sync_client_runs_async_tools_and_the_async_client_sync_ones(corral, acorral):
    threads: list[str] = []

    def sync_tool() -> str:
        threads.append(threading.current_thread().name)
        return "sync"

    async def async_tool() -> str:
        return "async"

    from_async = await acorral.run(model="test", input="go", tools=[sync_tool])
    from_sync = await asyncio.to_thread(corral.run, model="test", input="go", tools=[async_tool])

    assert from_async.output == "sync_tool returned: sync"
    assert threads != [threading.current_thread().name]  # not run in the event loop's thread
    assert from_sync.output == "async_tool returned: async"


async def test_the_tool_definitions_travel_with_the_run(server, api_key):
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    client = Corral(base_url=server.base_url, api_key=api_key, http_client=http)

    run = await asyncio.to_thread(client.run, model="test", input="go", tools=[add])
    events = await asyncio.to_thread(client.runs.events, run.id)
    http.close()

    [create] = [r for r in sent if (r.method, r.url.path) == ("POST", "/v1/runs")]
    assert json.loads(create.read())["tools"] == [tool(add).to_ref()]
    assert [e.input for e in events if isinstance(e, ClientToolCall)] == [{"a": 1, "b": 2}]


async def test_running_again_with_the_same_idempotency_key_does_not_call_the_tools_again(sdk):
    calls: list[str] = []

    def remember(note: str) -> str:
        """Remember a note."""
        calls.append(note)
        return "noted"

    first = await sdk.run(model="test", input="go", tools=[remember], idempotency_key="once")
    again = await sdk.run(model="test", input="go", tools=[remember], idempotency_key="once")

    assert again.id == first.id
    assert again.output == first.output == "remember returned: noted"
    assert calls == ["example"]


async def test_sending_again_with_the_same_idempotency_key_does_not_call_the_tools_again(sdk):
    calls: list[str] = []

    def remember(note: str) -> str:
        """Remember a note."""
        calls.append(note)
        return "noted"

    session = await sdk.sessions.create(model="test")
    first = await sdk.sessions.send(session.id, input="go", tools=[remember], idempotency_key="m1")
    again = await sdk.sessions.send(session.id, input="go", tools=[remember], idempotency_key="m1")

    assert again.id == first.id
    assert again.output == "remember returned: noted"
    assert calls == ["example"]
    assert len((await sdk.sessions.retrieve(session.id)).messages) == 4
