"""The judges' prompt templates (core `PromptTemplate`, versioned ids, hashed into results) and their filling."""

from __future__ import annotations

from biosynth.core import ChatMessage, PromptTemplate
from biosynth.eval._judge.items import JudgeItem
from biosynth.eval._judge.rubric import Rubric

SYSTEM = "You are a careful clinical expert who evaluates text written by others. You follow the rubric exactly."

# G-Eval (Liu et al., 2023): criterion, evaluation steps, then a form whose answer is the score alone; the score is
# read from the probabilities of the score tokens at the first answer position.
GEVAL = PromptTemplate(id="judge/geval/v1", text="""\
You will be given one ${subject}.${reference_note} Your task is to rate it on one criterion.

Evaluation criterion:
${criterion}

Score levels:
${levels}

Evaluation steps:
${steps}
${reference_block}
${subject_title}:
${text}

Evaluation form: answer with the score only, one of ${values}, and nothing else.
Score:""")

# Prometheus (Kim et al., 2024): feedback first, then `[RESULT] n` on its own at the end, parsed strictly.
PROMETHEUS = PromptTemplate(id="judge/prometheus/v1", text="""\
###Task description:
You are given a ${subject}${reference_note_short} and a score rubric.
1. Write feedback that assesses the ${subject} strictly by the score rubric, not in general.
2. After the feedback, write the score: an integer, one of ${values}.
3. The output must look like this: "Feedback: (your feedback) [RESULT] (an integer, one of ${values})"
4. Write nothing before the feedback and nothing after the score.

###Evaluation steps:
${steps}
${reference_block}
###${subject_title} to evaluate:
${text}

###Score rubric: ${criterion}
${levels}

###Feedback:""")

PAIRWISE = PromptTemplate(id="judge/pairwise/v1", text="""\
###Task description:
You are given two ${subject}s, A and B,${reference_note_short} and a criterion.
1. Write feedback that compares A and B strictly by the criterion.
2. Then name the better one: A or B.
3. The output must look like this: "Feedback: (your feedback) [RESULT] (A or B)"
4. Write nothing before the feedback and nothing after the verdict.

###Criterion: ${criterion}

###Evaluation steps:
${steps}
${reference_block}
###${subject_title} A:
${text_a}

###${subject_title} B:
${text_b}

###Feedback:""")

RETRY = ("Your answer could not be used: {errors}. Answer again in the required format, ending with "
         "[RESULT] and {what}.")


def _common(rubric: Rubric, item: JudgeItem) -> dict[str, str]:
    reference = item.reference if rubric.reference is not None else None
    return {
        "subject": item.subject, "subject_title": item.subject[:1].upper() + item.subject[1:],
        "criterion": rubric.criterion,
        "levels": "\n".join(f"{level.value} ({level.label}): {level.description}" for level in rubric.levels),
        "steps": "\n".join(f"{i}. {step}" for i, step in enumerate(rubric.steps, 1)),
        "values": ", ".join(str(v) for v in rubric.values),
        "reference_note": f" You will also be given the {rubric.reference} it must agree with." if reference else "",
        "reference_note_short": f", the {rubric.reference} it must agree with," if reference else "",
        "reference_block": f"\n{(rubric.reference or '').capitalize()}:\n{reference}\n" if reference else "",
    }


def rubric_messages(template: PromptTemplate, rubric: Rubric, item: JudgeItem) -> tuple[ChatMessage, ...]:
    prompt = template.render({**_common(rubric, item), "text": item.text})
    return (ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=prompt))


def pairwise_messages(rubric: Rubric, first: JudgeItem, second: JudgeItem) -> tuple[ChatMessage, ...]:
    prompt = PAIRWISE.render({**_common(rubric, first), "text_a": first.text, "text_b": second.text})
    return (ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=prompt))

# A critic's feedback-guided rewrite of a sample that scored below the bar (Jeong et al.'s critic, with repair).
REPAIR = PromptTemplate(id="judge/repair/v1", text="""\
Rewrite the ${subject} below so that it meets the criterion. Keep what is right and fix what the reviewer's \
feedback names.${reference_note} Write only the rewritten ${subject}, with no comments before or after it.

Criterion: ${criterion}

Reviewer's feedback (score ${score} on a scale of ${values}):
${feedback}
${reference_block}
${subject_title}:
${text}""")


def repair_messages(rubric: Rubric, item: JudgeItem, score: float, feedback: str) -> tuple[str, tuple[ChatMessage, ...]]:
    """The rendered rewrite prompt and its messages."""
    prompt = REPAIR.render({**_common(rubric, item), "text": item.text, "score": f"{score:g}", "feedback": feedback})
    return prompt, (ChatMessage(role="user", content=prompt),)
