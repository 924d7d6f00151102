"""The model gateway: the one activity every model call goes through.

`model_call` renders a pinned prompt version, calls one concrete model (the workflow
walks the fallback chain), and returns aiflow's own result: the output validated against
the prompt's schema, usage, cost, latency, attempt. On the way:

- the provider's answer is recorded against (workflow, step, request hash) before
  anything else, so a retry after a worker died reuses it instead of paying again (group
  commit: `activities.response_log`);
- output that does not validate is repaired deterministically, then re-asked once with
  the validation errors; still invalid → a non-retryable `InvalidStructuredOutput` with
  the partial answer attached (the workflow moves to the next model, then to review);
- provider errors are classified once (`activities.errors`) into retryable or not; each
  failed attempt is one log line with its class, never a traceback;
- a 401/403/404 trips the model's config breaker (`activities.breaker`): the call that
  opens it raises the operator alert, once per opening (log line, notification row,
  webhook when configured, metric), and no run calls that model until its probe passes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.breaker import CircuitBreakers, breaker_key, config_key
from activities.catalog import Catalog, Target
from activities.errors import (
    PROVIDER_CONFIG_ERRORS,
    MalformedOutput,
    ModelError,
    RetryableModelError,
    to_application_error,
)
from activities.prompts import Prompt, PromptError, PromptLibrary
from activities.providers.base import Message, ModelProvider, ModelRequest, ModelResponse
from activities.response_log import ResponseLog
from activities.store import Store
from activities.webhook import Webhook, WebhookError
from contracts import (
    ModelCall,
    ModelStepInput,
    ModelStepResult,
    Notification,
    Usage,
)
from contracts.batch import ModelBatchInput, ModelBatchItem, ModelBatchResult, ModelCallError

log = structlog.get_logger("aiflow.gateway")

REASK_LIMIT = 1  # one corrective call; after that the next model tier is cheaper than more
PARTIAL_CHARS = 2000  # of an unusable answer kept for the reviewer
# A batch's payload must stay under the server's 2 MiB limit; bodies over the intake cap
# travel as references, so 50 calls of ~20 kB variables fit.
MAX_BATCH_CALLS = 50
HEARTBEAT_SECONDS = 10.0  # the model profile's heartbeat timeout is 30 s
T = TypeVar("T")


def repair_json(text: str) -> tuple[str, list[str]]:
    """Deterministic fixes for the usual ways models wrap or break JSON."""
    repairs = []
    body = text.strip()
    fenced = re.fullmatch(r"```[a-zA-Z]*\s*(.*?)\s*```", body, re.S)
    if fenced:
        body, repairs = fenced.group(1), ["strip_fence"]
    if not body.startswith("{") and "{" in body and "}" in body:
        body = body[body.index("{") : body.rindex("}") + 1]
        repairs.append("extract_object")
    fixed = re.sub(r",\s*([}\]])", r"\1", body)
    if fixed != body:
        body = fixed
        repairs.append("trailing_comma")
    return body, repairs


def validate_output(text: str, schema: type[BaseModel]) -> tuple[BaseModel, list[str]]:
    """Parse as is, else after deterministic repair; raises ValidationError."""
    try:
        return schema.model_validate_json(text), []
    except ValidationError:
        repaired, repairs = repair_json(text)
        if not repairs:
            raise
        return schema.model_validate_json(repaired), repairs


async def _heartbeating(call: Awaitable[T]) -> T:
    """Await a provider call, heartbeating meanwhile: a worker that dies mid-call is noticed
    after the heartbeat timeout, not after the whole start-to-close timeout."""
    task = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()


def _config_error(message: str, type_: str, inp: ModelStepInput) -> ApplicationError:
    """A worker deployed out of step with the run (prompt file, catalogue, providers):
    one error line here; the run parks until a fixed worker takes the call."""
    log.error("model.deployment_error", error=type_, detail=message, step=inp.step)
    return ApplicationError(
        message, type=type_, non_retryable=True, category=ApplicationErrorCategory.BENIGN
    )


def _summary(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in err.errors()[:5]
    )


class ModelGateway:
    """Providers, catalogue, prompts and the response log a worker builds once."""

    def __init__(
        self,
        providers: dict[str, ModelProvider],
        catalog: Catalog,
        prompts: PromptLibrary,
        store: Store,
        breakers: CircuitBreakers,
        *,
        response_log: ResponseLog | None = None,
        max_calls_in_flight: int | None = None,
        alert_webhook: Webhook | None = None,
        schemas: dict[str, type[BaseModel]] | None = None,
    ) -> None:
        if max_calls_in_flight is not None and max_calls_in_flight < 1:
            raise ValueError(f"max_calls_in_flight must be >= 1, not {max_calls_in_flight}")
        self.max_calls_in_flight = max_calls_in_flight
        self._permits: dict[str, asyncio.Semaphore] = {}  # per provider, made on first use
        self.breakers = breakers
        self.alert_webhook = alert_webhook
        self.providers = providers
        # every registered workflow's outputs by name (WorkflowSpec.output_schemas)
        self.schemas = dict(schemas or {})
        self.catalog = catalog
        self.prompts = prompts
        self.store = store
        self.responses = response_log or ResponseLog(store)
        unknown = {p.output_schema for p in prompts.all()} - set(self.schemas)
        if unknown:  # a prompt file naming a schema no code knows fails the worker at start
            raise PromptError(
                f"unknown output_schema {sorted(unknown)} (known: {sorted(self.schemas)})"
            )
        self.targets: dict[tuple[str, str], Target] = {
            (t.provider, t.model): t for alias in catalog.aliases for t in catalog.chain(alias)
        }

    async def _answer(
        self, inp: ModelStepInput, request: ModelRequest, succeeded: set[str] | None
    ) -> tuple[ModelResponse, bool]:
        """The provider's answer, or the one recorded by an earlier attempt (reused=True).
        A batch collects its breaker successes in `succeeded` and records each key once,
        and heartbeats once for all its calls; a single call heartbeats here."""
        key = hashlib.sha256(
            json.dumps(
                [
                    request.model,
                    [m.model_dump() for m in request.messages],
                    request.max_output_tokens,
                    request.json_output,
                ],
                sort_keys=True,
            ).encode()
        ).hexdigest()
        recorded = await self.responses.get(inp.workflow_id, inp.step, key)
        if recorded is not None:
            return recorded, True
        provider = self.providers.get(inp.target.provider)
        if provider is None:
            raise _config_error(
                f"provider {inp.target.provider!r} is not configured on this worker",
                "ProviderNotConfigured",
                inp,
            )
        breaker = breaker_key(inp.target.provider, inp.target.model)
        # The workflow checked before the first attempt; a retry stops once the breaker has
        # opened meanwhile, so the workflow falls back instead of waiting out the retries.
        if request.attempt > 1 and await asyncio.to_thread(self.breakers.is_open, breaker):
            raise ApplicationError(
                f"circuit breaker open for {breaker}",
                type="CircuitOpen",
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        call = self._complete(inp.target.provider, provider, request)
        try:
            response = await (call if succeeded is not None else _heartbeating(call))
        except ModelError as err:
            if isinstance(err, RetryableModelError) and not isinstance(err, MalformedOutput):
                await asyncio.to_thread(self.breakers.record_failure, breaker)
            log.warning(  # one line per failed attempt: the class, never a traceback
                "model.call.failed",
                error=type(err).__name__,
                status=err.status,
                detail=str(err),
                provider=inp.target.provider,
                model=request.model,
                step=inp.step,
                attempt=request.attempt,
            )
            if type(err).__name__ in PROVIDER_CONFIG_ERRORS:
                await self._trip_config(breaker, err, inp)
            raise to_application_error(err) from err
        # Recorded (committed) before anything else can fail: a retry must not pay again.
        await self.responses.put(inp.workflow_id, inp.step, key, response)
        if succeeded is None:
            await asyncio.to_thread(self.breakers.record_success, breaker, config_key(breaker))
        else:
            succeeded.add(breaker)
        return response, False

    async def _trip_config(self, breaker: str, err: ModelError, inp: ModelStepInput) -> None:
        """Open the model's config breaker; the call that opened it raises the alert."""
        if not await asyncio.to_thread(self.breakers.trip, config_key(breaker)):
            return
        message = (
            f"{breaker}: {type(err).__name__} ({err}). Calls to this model are paused and "
            "its runs wait (stage parked) until the configuration is fixed: deploy the fix, "
            f"then `aiflow breakers reset {config_key(breaker)}` and `aiflow parked retry "
            "--all`, or `aiflow parked release --all` to send them to review."
        )
        log.error("model.config_error", key=breaker, error=type(err).__name__, status=err.status)
        activity.metric_meter().create_counter(
            "aiflow_model_config_errors", "Config breakers opened (bad key, unknown model)"
        ).add(1, {"provider": inp.target.provider, "model": inp.target.model})
        notice = Notification(
            key=f"model_config:{breaker}:{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}",
            kind="model_config_error",
            workflow_id=inp.workflow_id,
            ticket_id="",
            message=message,
        )
        await asyncio.to_thread(self._alert, notice)

    def _alert(self, notice: Notification) -> None:
        """Best effort: the breaker is open either way; a lost alert is logged."""
        try:
            self.store.put_notification(notice, "store")
            if self.alert_webhook is not None:
                self.alert_webhook.post(notice)
                self.store.put_notification(notice, "webhook")
        except (WebhookError, OSError, SQLAlchemyError) as err:
            log.error("model.config_alert_failed", key=notice.key, error=type(err).__name__)

    async def _complete(
        self, name: str, provider: ModelProvider, request: ModelRequest
    ) -> ModelResponse:
        """provider.complete(), holding one of the provider's in-flight permits when the
        worker limits calls in flight (max_calls_in_flight): with batches, one activity
        slot holds many calls, so slots alone cannot bound what reaches the provider."""
        if self.max_calls_in_flight is None:
            return await provider.complete(request)
        permits = self._permits.get(name)
        if permits is None:
            permits = self._permits[name] = asyncio.Semaphore(self.max_calls_in_flight)
        async with permits:
            return await provider.complete(request)

    @activity.defn(name="model_call")
    async def model_call(self, inp: ModelStepInput) -> ModelStepResult:
        return await self._call(inp)

    @activity.defn(name="model_call_batch")
    async def model_call_batch(self, inp: ModelBatchInput) -> ModelBatchResult:
        """Independent model calls in ONE activity task, run concurrently: for workflows
        with many at once, the server handles one task per batch instead of per call.

        Each call is exactly `model_call` (own response-log entry, validation, cost). A
        non-retryable failure is reported in its item; a retryable one fails the batch,
        and the retry reuses every answer already recorded, so nothing is paid twice."""
        if len(inp.calls) > MAX_BATCH_CALLS:
            raise ApplicationError(
                f"{len(inp.calls)} calls in one batch (at most {MAX_BATCH_CALLS})",
                type="BatchTooLarge",
                non_retryable=True,
            )
        succeeded: set[str] = set()
        outcomes = await _heartbeating(
            asyncio.gather(*(self._call(c, succeeded) for c in inp.calls), return_exceptions=True)
        )
        for breaker in sorted(succeeded):
            await asyncio.to_thread(self.breakers.record_success, breaker, config_key(breaker))
        items, retryable = [], []
        for outcome in outcomes:
            if isinstance(outcome, ModelStepResult):
                items.append(ModelBatchItem(result=outcome))
            elif isinstance(outcome, ApplicationError) and outcome.non_retryable:
                error = ModelCallError(
                    type=outcome.type or "ApplicationError",
                    message=outcome.message,
                    details=list(outcome.details),
                )
                items.append(ModelBatchItem(error=error))
            elif isinstance(outcome, Exception):
                retryable.append(outcome)
            else:
                raise outcome  # cancellation and the like: not a call's failure
        if retryable:
            first = retryable[0]
            delays = [
                e.next_retry_delay
                for e in retryable
                if isinstance(e, ApplicationError) and e.next_retry_delay
            ]
            known = isinstance(first, ApplicationError)
            raise ApplicationError(
                f"{len(retryable)} of {len(inp.calls)} calls failed and are retried: "
                f"{first.message if known else first}",
                type=first.type if known else type(first).__name__,
                next_retry_delay=max(delays) if delays else None,
            ) from first
        return ModelBatchResult(items=items)

    async def _call(
        self, inp: ModelStepInput, succeeded: set[str] | None = None
    ) -> ModelStepResult:
        try:
            prompt: Prompt = self.prompts.get(inp.prompt)
            messages = prompt.render(inp.variables)
        except PromptError as err:
            raise _config_error(str(err), "PromptError", inp) from err
        if inp.output_schema is not None and inp.output_schema != prompt.output_schema:
            raise _config_error(
                f"prompt {prompt.id}@{prompt.version} answers {prompt.output_schema}, "
                f"the step expects {inp.output_schema}",
                "PromptError",
                inp,
            )
        schema = self.schemas[prompt.output_schema]
        # Checked before any call: an unpriceable model must fail before it is paid.
        target = self.targets.get((inp.target.provider, inp.target.model))
        if target is None:
            raise _config_error(
                f"{inp.target.provider}/{inp.target.model} is not in catalogue "
                f"{self.catalog.version}",
                "UnknownModel",
                inp,
            )
        attempt = activity.info().attempt
        request = ModelRequest(
            task=prompt.task,
            model=inp.target.model,
            prompt_id=prompt.id,
            prompt_version=prompt.version,
            messages=messages,
            variables=inp.variables,
            max_output_tokens=inp.max_output_tokens,
            json_output=True,
            attempt=attempt,
            request_key=f"{inp.workflow_id}:{inp.step}",
        )
        usage, latency, reused_all = Usage(), 0.0, True
        for reask in range(REASK_LIMIT + 1):
            response, reused = await self._answer(inp, request, succeeded)
            usage = Usage(
                input_tokens=usage.input_tokens + response.usage.input_tokens,
                output_tokens=usage.output_tokens + response.usage.output_tokens,
                estimated=usage.estimated or response.usage.estimated,
            )
            latency += response.latency_ms
            reused_all = reused_all and reused
            try:
                output, repairs = validate_output(response.text, schema)
                break
            except ValidationError as err:
                if reask == REASK_LIMIT:
                    raise ApplicationError(
                        f"{schema.__name__} output invalid after {reask} re-ask(s): "
                        f"{_summary(err)}",
                        {"partial": response.text[:PARTIAL_CHARS]},
                        type="InvalidStructuredOutput",
                        non_retryable=True,
                    ) from err
                request = request.model_copy(
                    update={
                        "messages": [
                            *request.messages,
                            Message(role="assistant", content=response.text),
                            Message(
                                role="user",
                                content=(
                                    f"That answer is not valid: {_summary(err)}. Reply with "
                                    "only the corrected JSON object."
                                ),
                            ),
                        ],
                        "request_key": f"{inp.workflow_id}:{inp.step}:reask{reask + 1}",
                    }
                )
        cost = self.catalog.price(target, usage)
        log.info(  # ids, sizes and money only: never the prompt or the output
            "model.call",
            step=inp.step,
            provider=response.provider,
            model=response.model,
            prompt_version=f"{prompt.id}@{prompt.version}",
            tokens_in=usage.input_tokens,
            tokens_out=usage.output_tokens,
            cost_usd=float(cost.usd),
            latency_ms=round(latency, 1),
            reasks=reask,
            reused=reused_all,
        )
        return ModelStepResult(
            output=output.model_dump(mode="json"),
            call=ModelCall(
                provider=response.provider,
                model=response.model,
                prompt_id=prompt.id,
                prompt_version=prompt.version,
                usage=usage,
                cost_usd=float(cost.usd),
                latency_ms=latency,
                attempt=attempt,
                alias=inp.target.alias,
                price_version=cost.price_version,
                cost_estimated=cost.estimated or usage.estimated,
                repairs=repairs,
                reasks=reask,
                reused=reused_all,
            ),
        )
