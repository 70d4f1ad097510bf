"""Spec §4 acceptance checks for listing rules, and §11's shared use by pricing rules."""

from conditions import AttributeCondition, Combination, matches, validate_attributes

PRODUCT_A = {"sku": "A", "amazon_fba": True, "category_ids": ["3"]}
PRODUCT_B = {"sku": "B", "amazon_fba": False, "category_ids": ["3", "4"]}
PRODUCT_C = {"sku": "C", "amazon_fba": None, "category_ids": ["4"]}


def test_all_true_amazon_fba_is_yes_keeps_a_and_excludes_b() -> None:
    rule = Combination(conditions=[AttributeCondition(attribute="amazon_fba", operator="==", value="Yes")])

    assert matches(rule, PRODUCT_A)
    assert not matches(rule, PRODUCT_B)


def test_empty_rule_makes_every_product_eligible() -> None:
    for product in (PRODUCT_A, PRODUCT_B, PRODUCT_C, {}):
        assert matches(None, product)
        assert matches(Combination(), product)
        assert matches(Combination(aggregator="any", value=False), product)


def test_any_false_category_is_4_keeps_products_outside_category_4() -> None:
    rule = Combination(
        aggregator="any",
        value=False,
        conditions=[AttributeCondition(attribute="category_ids", operator="==", value="4")],
    )

    assert matches(rule, PRODUCT_A)
    assert not matches(rule, PRODUCT_B)
    assert not matches(rule, PRODUCT_C)
    assert matches(rule, {"sku": "D"})


def test_an_attribute_without_the_promo_flag_is_reported() -> None:
    rule = Combination(
        conditions=[
            AttributeCondition(attribute="amazon_fba", operator="==", value="1"),
            Combination(conditions=[AttributeCondition(attribute="cost", operator=">", value="5")]),
        ]
    )

    problems = validate_attributes(rule, {"amazon_fba", "category_ids", "sku"})

    assert problems == [
        "conditions.1.conditions.0.attribute: 'cost' cannot be used in rule conditions"
        " (not a promo rule attribute)"
    ]
    assert validate_attributes(rule, {"amazon_fba", "cost"}) == []
    assert validate_attributes(None, set()) == []


def test_a_sale_pricing_rule_picks_sale_items_only() -> None:
    sale = Combination(conditions=[AttributeCondition(attribute="category_ids", operator="()", value="7,9")])

    assert matches(sale, {"category_ids": ["2", "9"]})
    assert not matches(sale, {"category_ids": ["2"]})


def test_node_type_may_be_left_out_in_documents() -> None:
    from conditions import AttributeCondition, Combination

    tree = Combination.model_validate(
        {"aggregator": "any", "conditions": [{"attribute": "sku", "operator": "==", "value": "A"},
                                             {"conditions": [{"attribute": "sku", "operator": "==", "value": "B"}]}]})
    assert isinstance(tree.conditions[0], AttributeCondition)
    assert isinstance(tree.conditions[1], Combination)
