"""veRL agent loop that forces RAIF's direct-answer share: the last `direct_per_group` samples of each
group get an empty, closed think block after the prompt and are flagged `direct_answer` for the reward.
"""

from __future__ import annotations

from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
from verl.experimental.agent_loop.single_turn_agent_loop import SingleTurnAgentLoop

from raif_train.verl.masks import direct_suffix, is_direct_session, last_user_message, row_style
from raif_train.verl.overrides import AGENT_LOOP_NAME

__all__ = ["RaifAgentLoop"]


@register(AGENT_LOOP_NAME)
class RaifAgentLoop(SingleTurnAgentLoop):
    """veRL's single-turn loop plus the forced direct answer; one instance serves one sample."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        raif = self.config.get("raif", None) or {}
        self.group_size = int(raif.get("group_size", self.rollout_config.n))
        self.direct_per_group = int(raif.get("direct_per_group", 0))
        self.response_format = str(raif.get("response_format", "think_answer"))
        self._suffix_ids: list[int] = []

    def forced_suffix_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the empty think block, rendered exactly as the native backend renders it."""
        text = direct_suffix(self.tokenizer, messages, self.response_format)
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    async def ct_build_initial_tokens(self, messages: list[dict], *args: Any, **kwargs: Any) -> list[int]:
        ids = await super().ct_build_initial_tokens(messages, *args, **kwargs)
        return list(ids) + self._suffix_ids

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        session_id = kwargs.get("session_id")
        if session_id is None:
            # veRL's v1 (TransferQueue) manager numbers the samples of a group; the legacy one does not.
            raise RuntimeError("raif agent loop needs trainer.use_v1=true (no session_id in the sample)")
        # Validation samples one answer per prompt (val_kwargs.n=1): session 0 is never a direct one.
        style = row_style(kwargs.get("reward_model"))
        # math prompts get G reasoning samples: no forced direct answer (the paper; the native backend too)
        direct = style != "math" and is_direct_session(int(session_id), self.group_size, self.direct_per_group)
        if direct:
            self._suffix_ids = self.forced_suffix_ids(list(kwargs["raw_prompt"]))
        output = await super().run(sampling_params, **kwargs)
        # Reaches compute_score's extra_info (the reward managers merge extra_fields into it).
        output.extra_fields["direct_answer"] = direct
        if style == "judge":  # the judge sees the instruction it judges (the paper; the native backend too)
            output.extra_fields["instruction"] = last_user_message(list(kwargs["raw_prompt"]))
        return output
