from hypothesis import given
from hypothesis import strategies as st

from conditions import AttributeCondition, Combination, describe, matches

CODES = ["sku", "price", "category_ids", "amazon_fba"]
WORDS = st.sampled_from(["4", "5", "04", "10", "10.0", "abc", "ABC", "Yes", "No", "1", "0", "-2.5", ""])
NUMBERS = st.sampled_from(["0", "1", "4", "10", "10.00", "-2.5", "1e1", "19.99"])

scalars = st.one_of(
    WORDS,
    st.integers(-20, 20),
    st.decimals(min_value=-50, max_value=50, allow_nan=False, places=2),
    st.booleans(),
)
values = st.one_of(st.none(), scalars, st.lists(WORDS, max_size=4))
products = st.dictionaries(st.sampled_from(CODES), values)


@st.composite
def attribute_conditions(draw: st.DrawFn, operators: list[str] | None = None) -> AttributeCondition:
    operator = draw(st.sampled_from(operators or ["==", "!=", ">=", "<=", ">", "<", "{}", "!{}", "()", "!()"]))
    if operator in (">=", "<=", ">", "<"):
        value: str | list[str] = draw(NUMBERS)
    elif operator in ("()", "!()"):
        items = draw(st.lists(WORDS.filter(bool), min_size=1, max_size=3))
        value = items if draw(st.booleans()) else ",".join(items)
    elif operator in ("{}", "!{}"):
        value = draw(WORDS.filter(bool))
    else:
        value = draw(WORDS)
    return AttributeCondition(attribute=draw(st.sampled_from(CODES)), operator=operator, value=value)  # type: ignore[arg-type]


def combinations(depth: int) -> st.SearchStrategy[Combination]:
    child = attribute_conditions() if depth <= 1 else st.one_of(attribute_conditions(), combinations(depth - 1))
    return st.builds(
        Combination,
        aggregator=st.sampled_from(["all", "any"]),
        value=st.booleans(),
        conditions=st.lists(child, max_size=3),
    )


trees = combinations(4)
nodes = st.one_of(attribute_conditions(), trees)


def holds(node: Combination | AttributeCondition, product: dict[str, object]) -> bool:
    tree = node if isinstance(node, Combination) else Combination(conditions=[node])
    return matches(tree, product)


@given(nodes, products)
def test_all_true_of_one_child_is_that_child(node: Combination | AttributeCondition, product: dict) -> None:
    assert matches(Combination(aggregator="all", value=True, conditions=[node]), product) is holds(node, product)


@given(nodes, products)
def test_any_true_of_one_child_is_that_child(node: Combination | AttributeCondition, product: dict) -> None:
    assert matches(Combination(aggregator="any", value=True, conditions=[node]), product) is holds(node, product)


@given(st.lists(nodes, min_size=1, max_size=4), products)
def test_any_false_is_not_all_true(children: list, product: dict) -> None:
    any_false = Combination(aggregator="any", value=False, conditions=children)
    all_true = Combination(aggregator="all", value=True, conditions=children)

    assert matches(any_false, product) is not matches(all_true, product)


@given(st.lists(nodes, min_size=1, max_size=4), products)
def test_all_false_is_not_any_true(children: list, product: dict) -> None:
    all_false = Combination(aggregator="all", value=False, conditions=children)
    any_true = Combination(aggregator="any", value=True, conditions=children)

    assert matches(all_false, product) is not matches(any_true, product)


@given(attribute_conditions(["==", "{}", "()"]), st.one_of(scalars, st.lists(WORDS, max_size=4)))
def test_negated_operators_are_complementary_when_the_attribute_is_present(
    condition: AttributeCondition, actual: object
) -> None:
    negated = condition.model_copy(update={"operator": {"==": "!=", "{}": "!{}", "()": "!()"}[condition.operator]})
    product = {condition.attribute: actual}

    assert holds(condition, product) is not holds(negated, product)


@given(
    attribute_conditions([">", "<"]),
    st.one_of(st.integers(-20, 20), st.decimals(min_value=-50, max_value=50, places=2), NUMBERS),
)
def test_strict_and_non_strict_comparisons_are_complementary_for_numbers(
    condition: AttributeCondition, actual: object
) -> None:
    opposite = condition.model_copy(update={"operator": {">": "<=", "<": ">="}[condition.operator]})
    product = {condition.attribute: actual}

    assert holds(condition, product) is not holds(opposite, product)


@given(st.sampled_from(["Abc-12", "blue Shirt", "SKU_9"]), st.sampled_from(["==", "{}", "()"]))
def test_text_comparison_ignores_case(text: str, operator: str) -> None:
    condition = AttributeCondition(attribute="sku", operator=operator, value=text.upper())  # type: ignore[arg-type]

    assert holds(condition, {"sku": text.lower()})
    assert holds(condition, {"sku": text.swapcase()})


@given(trees, products)
def test_a_json_round_trip_keeps_the_tree_and_its_verdict(tree: Combination, product: dict) -> None:
    copy = Combination.model_validate_json(tree.model_dump_json())

    assert copy == tree
    assert matches(copy, product) is matches(tree, product)


@given(trees)
def test_describe_is_one_line(tree: Combination) -> None:
    text = describe(tree)

    assert "\n" not in text
    assert text.startswith(("ALL ", "ANY "))


@given(trees)
def test_an_empty_product_matches_like_missing_attributes(tree: Combination) -> None:
    assert matches(tree, {}) is matches(tree, dict.fromkeys(CODES))

