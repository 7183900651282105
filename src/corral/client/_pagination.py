"""Lists that page transparently: iterate a page to get every item of every page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

Fetch = Callable[[str | None], tuple[list[T], str | None]]
AsyncFetch = Callable[[str | None], Awaitable[tuple[list[T], str | None]]]


class SyncPage(Generic[T]):
    """The first page of a list; iterating it walks every page."""

    def __init__(self, fetch: Fetch[T], data: list[T], next_cursor: str | None) -> None:
        self._fetch = fetch
        self.data = data
        """Items of this page."""
        self.next_cursor = next_cursor
        """Cursor of the next page, None on the last one."""

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        """This page, then each following one."""
        page: SyncPage[T] | None = self
        while page is not None:
            yield page
            page = page.next_page()

    def next_page(self) -> SyncPage[T] | None:
        """The following page, or None on the last one."""
        if self.next_cursor is None:
            return None
        data, cursor = self._fetch(self.next_cursor)
        return SyncPage(self._fetch, data, cursor)


class AsyncPage(Generic[T]):
    """The async twin of `SyncPage`: `async for item in await client.runs.list()`."""

    def __init__(self, fetch: AsyncFetch[T], data: list[T], next_cursor: str | None) -> None:
        self._fetch = fetch
        self.data = data
        """Items of this page."""
        self.next_cursor = next_cursor
        """Cursor of the next page, None on the last one."""

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        """This page, then each following one."""
        page: AsyncPage[T] | None = self
        while page is not None:
            yield page
            page = await page.next_page()

    async def next_page(self) -> AsyncPage[T] | None:
        """The following page, or None on the last one."""
        if self.next_cursor is None:
            return None
        data, cursor = await self._fetch(self.next_cursor)
        return AsyncPage(self._fetch, data, cursor)
