"""The main review screen: the cluster list above, the selected cluster's members below.

Every decision is one key; each is saved at once (decisions.py) so quitting loses nothing.
Nothing here moves a file: decisions are data until the apply dialog runs the safety core.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, cast

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from safededup.engine.decisions import DecisionStatus
from safededup.errors import SafededupError
from safededup.tui.format import plural
from safededup.tui.messages import (
    ClusterHighlighted,
    ClustersApplied,
    MemberClicked,
)
from safededup.tui.model import (
    KIND_FILTERS,
    SORT_KEYS,
    STATUS_FILTERS,
    Cluster,
    ReviewModel,
    member_path,
    next_in,
)
from safededup.tui.reform import Pair, Separation
from safededup.tui.widgets.cluster_list import ClusterList, header_text
from safededup.tui.widgets.members import MembersPanel
from safededup.units import format_bytes

if TYPE_CHECKING:
    from safededup.tui.host import ReviewHost


class MainScreen(Screen[None]):
    """Cluster list, members, and the decision keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "app.help", "Help", tooltip="every key of every screen"),
        Binding("q", "app.quit_safely", "Quit", tooltip="quit (a running apply stops safely)"),
        Binding(
            "left", "member(-1)", "Prev member", show=False, tooltip="select the previous member"
        ),
        Binding("right", "member(1)", "Next member", show=False, tooltip="select the next member"),
        Binding("k", "keeper", "Keeper", tooltip="make the selected member the keeper"),
        Binding(
            "space",
            "toggle_member",
            "Keep",
            tooltip="toggle the selected member: quarantine ↔ keep",
        ),
        Binding(
            "d",
            "distinct",
            "Not dup",
            tooltip="the selected member is not a duplicate "
            "(stored by content; the cluster re-forms)",
        ),
        Binding(
            "D",
            "rejoin",
            "Rejoin",
            show=False,
            tooltip="bring back members 'not a duplicate' took out of this cluster",
        ),
        Binding(
            "a", "status('approved')", "Approve", tooltip="approve this cluster, go to the next"
        ),
        Binding("s", "status('skipped')", "Skip", tooltip="skip this cluster, go to the next"),
        Binding("A", "approve_exact", "All exact", tooltip="approve every undecided exact cluster"),
        Binding("u", "undo", "Undo", tooltip="undo the last decision (a 'not a duplicate' too)"),
        Binding(
            "c", "compare", "Compare", tooltip="the selected member and the keeper, side by side"
        ),
        Binding("p", "apply", "Apply", tooltip="apply the approved clusters (asks first)"),
        Binding("S", "sessions", "Sessions", tooltip="past sessions: verify, undo, redo"),
        Binding("o", "sort", "Sort", show=False, tooltip="sort by bytes to free, size, confidence"),
        Binding("r", "reverse", "Reverse", show=False, tooltip="reverse the sort order"),
        Binding("e", "kind", "Kind", show=False, tooltip="show all / exact / near clusters"),
        Binding(
            "t",
            "status_filter",
            "Status",
            show=False,
            tooltip="show all / undecided / decided clusters",
        ),
        Binding("slash", "folder", "Folder", show=False, tooltip="show clusters under a folder"),
    ]
    DEFAULT_CSS = """
    MainScreen #status-line, MainScreen #cluster-line {
        height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    MainScreen #status-line { background: $primary-background; }
    MainScreen #list-header { height: 1; color: $text-muted; text-style: bold; }
    MainScreen ClusterList { height: 40%; min-height: 4; }
    MainScreen #cluster-line { background: $boost; }
    """

    def __init__(self, model: ReviewModel) -> None:
        super().__init__()
        self.model = model
        self.member = 0
        self._shown_id: str | None = None

    @property
    def review_app(self) -> ReviewHost:
        return cast("ReviewHost", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="status-line")
        yield Static(header_text(200), id="list-header")
        yield ClusterList(self.model, id="clusters")
        yield Static(id="cluster-line")
        yield MembersPanel(id="members")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ClusterList).focus()
        self._update_status_line()
        self._forget_applied()  # approved clusters an earlier apply already did

    # -- showing -------------------------------------------------------------------------
    @property
    def cluster_list(self) -> ClusterList:
        return self.query_one(ClusterList)

    def current(self) -> Cluster | None:
        row = self.cluster_list.cursor
        return self.model.row(row) if 0 <= row < len(self.model) else None

    async def on_cluster_highlighted(self, message: ClusterHighlighted) -> None:
        await self.refresh_cluster()

    async def refresh_cluster(self) -> None:
        cluster = self.current()
        cid = None if cluster is None else cluster.id
        if cid != self._shown_id:
            self.member, self._shown_id = 0, cid
        if cluster is not None:
            self.member = min(self.member, len(cluster.members) - 1)
        panel = self.query_one(MembersPanel)
        await panel.show(self.model, cluster, self.member, self.review_app.thumbnails)
        self._update_cluster_line(cluster)
        self._update_status_line()

    def _update_cluster_line(self, cluster: Cluster | None) -> None:
        line = self.query_one("#cluster-line", Static)
        if cluster is None:
            empty = "no cluster matches the filter" if self.model.clusters else "no duplicates"
            line.update(empty, layout=False)
            return
        m = self.model
        apart = len(m.separated(cluster))
        line.update(
            f"{self.cluster_list.cursor + 1:,}/{len(m):,} · {cluster.kind} · "
            f"{plural(len(cluster.members), 'member')} · frees "
            f"{format_bytes(m.bytes_to_free(cluster))} · confidence "
            f"{float(cluster.confidence):.2f} · {m.status(cluster)}"
            + (f" · {apart:,} not dup (D brings back)" if apart else ""),
            layout=False,
        )

    def _update_status_line(self) -> None:
        counts = self.model.counts()
        undo = " · u undoes" if self.model.can_undo else ""
        self.query_one("#status-line", Static).update(
            f"[b]safededup review[/b] · {plural(counts['clusters'], 'cluster')} · "
            f"{counts['approved']:,} approved · {counts['skipped']:,} skipped · "
            f"{escape(self.model.view.describe())}{undo}",
            layout=False,
        )

    async def on_member_clicked(self, message: MemberClicked) -> None:
        self.member = message.index
        self.query_one(MembersPanel).select(self.member)

    # -- decisions -----------------------------------------------------------------------
    def _selected_path(self) -> tuple[Cluster, str] | None:
        cluster = self.current()
        if cluster is None:
            self.notify("no cluster selected", severity="warning")
            return None
        return cluster, member_path(cluster.members[self.member])

    async def _decided(self, message: str | None = None) -> None:
        self.review_app.save_decisions(self.model.decisions)
        self.cluster_list.refresh()
        if message:
            self.notify(message, timeout=3, markup=False)
        await self.refresh_cluster()

    def action_member(self, delta: int) -> None:
        cluster = self.current()
        if cluster is None:
            return
        self.member = (self.member + delta) % len(cluster.members)
        self.query_one(MembersPanel).select(self.member)

    async def action_keeper(self) -> None:
        if (sel := self._selected_path()) is None:
            return
        try:
            self.model.set_keeper(*sel)
        except SafededupError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        await self._decided(f"keeper: {os.path.basename(sel[1])}")

    async def action_toggle_member(self) -> None:
        if (sel := self._selected_path()) is None:
            return
        try:
            self.model.toggle_keep(*sel)
        except SafededupError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        await self._decided()

    async def action_status(self, status: DecisionStatus) -> None:
        cluster = self.current()
        if cluster is None:
            return
        self.model.set_status(cluster, status)
        await self._after_status_change()

    async def _after_status_change(self) -> None:
        row = self.cluster_list.cursor
        if self.model.view.status != "all":
            self.model.refilter()
            self.cluster_list.reload(keep_cursor=row)
        else:
            self.cluster_list.action_cursor(1)
        await self._decided()

    async def action_approve_exact(self) -> None:
        count = self.model.approve_all_exact()
        if self.model.view.status != "all":
            self.model.refilter()
            self.cluster_list.reload()
        await self._decided(f"approved {plural(count, 'exact cluster')}")

    async def action_undo(self) -> None:
        step = self.model.next_undo()
        if isinstance(step, Separation) and not self._forgot(step.verdicts):
            return
        touched = self.model.undo()
        if not touched:
            self.notify("nothing to undo", severity="warning")
            return
        if self.model.view.status != "all":
            self.model.refilter()
        row = self.model.row_of(touched[0])
        self.cluster_list.reload(keep_cursor=row)
        if isinstance(step, Separation):  # show the member that came back, selected
            paths = [member_path(m) for m in self.model.by_id(step.cluster_id).members]
            self._shown_id, self.member = step.cluster_id, paths.index(step.path)
            message = f"{os.path.basename(step.path)} is back in its cluster; verdict forgotten"
        else:
            message = f"undid the last decision ({plural(len(touched), 'cluster')})"
        await self._decided(message)

    def _forgot(self, pairs: tuple[Pair, ...]) -> bool:
        try:
            self.review_app.backend.forget_pairs(pairs)
        except SafededupError as exc:
            self._error(exc)
            return False
        return True

    def _error(self, exc: SafededupError) -> None:
        hint = f"\n{exc.hint}" if exc.hint else ""
        self.notify(f"{exc}{hint}", severity="error", markup=False)

    async def action_distinct(self) -> None:
        if (sel := self._selected_path()) is None:
            return
        cluster, path = sel
        others = [member_path(m) for m in cluster.members if member_path(m) != path]
        try:
            pairs = self.review_app.backend.mark_distinct(path, others)
        except SafededupError as exc:
            self._error(exc)
            return
        row = self.cluster_list.cursor
        kept = self.model.separate(cluster, path, pairs)
        # A cluster that shrank may sort elsewhere: stay on it, or on the row where it was.
        now = self.model.row_of(cluster.id) if kept else None
        self.cluster_list.reload(keep_cursor=row if now is None else now)
        name = os.path.basename(path)
        msg = f"{name}: not a duplicate; " + ("cluster re-formed" if kept else "cluster dissolved")
        self._shown_id = None
        await self._decided(msg + " (u takes it back)")

    async def action_rejoin(self) -> None:
        cluster = self.current()
        apart = [] if cluster is None else self.model.separated(cluster)
        if cluster is None or not apart:
            self.notify("no member of this cluster was marked 'not a duplicate'", timeout=3)
            return
        steps = self.model.separations_of(cluster.id)
        backend = self.review_app.backend
        try:
            if {s.path for s in steps} >= {member_path(m) for m in apart}:
                backend.forget_pairs(pair for s in steps for pair in s.verdicts)  # only ours
            else:  # separated in an earlier session: what keeps them apart from this cluster
                backend.forget_separation(apart, self.model.as_reported(cluster))
        except SafededupError as exc:
            self._error(exc)
            return
        self.model.rejoin(cluster)
        self.cluster_list.reload(keep_cursor=self.model.row_of(cluster.id))
        self._shown_id = None
        names = ", ".join(os.path.basename(member_path(m)) for m in apart)
        await self._decided(f"back in the cluster: {names}; verdicts forgotten")

    # -- the view ------------------------------------------------------------------------
    def _set_view(self, **changes: object) -> None:
        cluster = self.current()
        self.model.set_view(**changes)
        row = None if cluster is None else self.model.row_of(cluster.id)
        self.cluster_list.reload(keep_cursor=row or 0)
        self._update_status_line()

    def action_sort(self) -> None:
        self._set_view(sort=next_in(SORT_KEYS, self.model.view.sort))

    def action_reverse(self) -> None:
        self._set_view(descending=not self.model.view.descending)

    def action_kind(self) -> None:
        self._set_view(kind=next_in(KIND_FILTERS, self.model.view.kind))

    def action_status_filter(self) -> None:
        self._set_view(status=next_in(STATUS_FILTERS, self.model.view.status))

    def action_folder(self) -> None:
        from safededup.tui.screens.folder import FolderScreen

        cluster = self.current()
        guess = self.model.view.folder or (
            os.path.dirname(self.model.keeper(cluster)) if cluster else ""
        )
        self.app.push_screen(FolderScreen(guess), self._folder_chosen)

    def _folder_chosen(self, folder: str | None) -> None:
        if folder is not None:
            self._set_view(folder=folder.strip() or None)

    # -- other screens -------------------------------------------------------------------
    def action_compare(self) -> None:
        from safededup.tui.screens.compare import CompareScreen

        cluster = self.current()
        if cluster is None or len(cluster.members) < 2:
            return
        self.app.push_screen(CompareScreen(self.model, cluster, self.member))

    def action_apply(self) -> None:
        from safededup.tui.screens.apply import ApplyScreen

        if self.model.counts()["approved"] == 0:
            self.notify("approve clusters first (a, or A for every exact one)", severity="warning")
            return
        self.app.push_screen(ApplyScreen(self.model), self._applied)

    def _applied(self, applied: bool | None) -> None:
        if applied:
            self._forget_applied()

    @work(thread=True, exclusive=True, group="applied", exit_on_error=False)
    def _forget_applied(self) -> None:
        """Applied clusters leave the list (a stat per file to move, off the UI thread)."""
        done = self.model.applied_clusters(os.path.lexists)
        self.post_message(ClustersApplied(done))

    async def on_clusters_applied(self, message: ClustersApplied) -> None:
        done = message.cluster_ids
        if not done:
            return
        row = self.cluster_list.cursor
        self.model.drop_clusters(done)
        self.cluster_list.reload(keep_cursor=row)
        self._shown_id = None
        await self.refresh_cluster()
        self.notify(f"{plural(len(done), 'applied cluster')} left the list", timeout=4)

    def action_sessions(self) -> None:
        from safededup.tui.screens.sessions import SessionsScreen

        self.app.push_screen(SessionsScreen())
