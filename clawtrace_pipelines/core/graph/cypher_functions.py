"""What the Cypher guard lets through, as graphglot AST class names: the read-only constructs, the portable
openCypher functions, and the constructs it refuses with a reason a model can act on.

An allowlist, not a denylist: a construct graphglot parses that is named nowhere here is refused, so a new
graphglot version or an exotic GQL form can only make the guard stricter. Names, not classes, because the
classes live in private graphglot modules (`graphglot.ast.expressions`, `graphglot.ast.functions`) whose
layout changes between releases; the names are what `tests/unit/test_cypher_guard.py` pins.
"""

from __future__ import annotations

# The grammar's scaffolding and the read clauses: MATCH, OPTIONAL MATCH, WHERE, WITH, UNWIND (ForStatement),
# RETURN, ORDER BY, SKIP, LIMIT, UNION [ALL], EXISTS { MATCH ... }, pattern predicates and comprehensions.
STRUCTURE = frozenset(
    {
        "GqlProgram",
        "_ProgramActivitySessionCloseCommand",
        "TransactionActivity",
        "_ProcedureSpecificationEndTransactionCommand",
        "ProcedureBody",
        "StatementBlock",
        "CompositeQueryExpression",
        "QueryConjunction",
        "_QueryConjunctionElement",
        "SetOperator",
        "AmbientLinearQueryStatement",
        "_SimpleLinearQueryStatementPrimitiveResultStatement",
        "SimpleLinearQueryStatement",
        "SimpleMatchStatement",
        "OptionalMatchStatement",
        "OptionalOperand",
        "MatchStatementBlock",
        "CypherWithStatement",
        "ForStatement",
        "ForItem",
        "ForItemAlias",
        "GraphPatternBindingTable",
        "GraphPattern",
        "GraphPatternWhereClause",
        "WhereClause",
        "PathPatternList",
        "PathPattern",
        "PathTerm",
        "NodePattern",
        "ElementPatternFiller",
        "ElementVariableDeclaration",
        "ElementPropertySpecification",
        "PropertyKeyValuePairList",
        "PropertyKeyValuePair",
        "IsLabelExpression",
        "LabelExpression",
        "LabelTerm",
        "LabelName",
        "FullEdgePointingRight",
        "FullEdgePointingLeft",
        "FullEdgeAnyDirection",
        "AbbreviatedEdgePattern",
        "QuantifiedPathPrimary",
        "GeneralQuantifier",
        "FixedQuantifier",
        "PrimitiveResultStatement",
        "_ReturnStatementOrderByAndPageStatement",
        "ReturnStatement",
        "ReturnStatementBody",
        "_SetQuantifierReturnItemListGroupByClause",
        "ReturnItemList",
        "ReturnItem",
        "ReturnItemAlias",
        "Asterisk",
        "OrderByAndPageStatement",
        "_OrderByClauseOffsetClauseLimitClause",
        "_OffsetClauseLimitClause",
        "_SetQuantifierAsteriskGroupByClause",
        "OrderByClause",
        "SortSpecificationList",
        "SortSpecification",
        "OrderingSpecification",
        "NullOrdering",
        "OffsetClause",
        "LimitClause",
        "SetQuantifier",
        "ExistsPredicate",
        "_ExistsMatchStatementBlock",
        "CypherPatternPredicate",
        "CypherPatternComprehension",
        "ListComprehension",
    }
)

# Expressions: literals, parameters, properties, operators, predicates, CASE, lists and maps.
EXPRESSIONS = frozenset(
    {
        "Identifier",
        "BindingVariableReference",
        "PropertyName",
        "PropertyReference",
        "GeneralValueSpecification",
        "GeneralParameterReference",
        "UnsignedNumericLiteral",
        "UnsignedInteger",
        "CharacterStringLiteral",
        "CharacterStringValueExpression",
        "BooleanLiteral",
        "NullLiteral",
        "ArithmeticValueExpression",
        "ArithmeticTerm",
        "ArithmeticFactor",
        "NumericValueExpression",
        "Term",
        "Factor",
        "_SignedTerm",
        "_MultiplicativeFactor",
        "ParenthesizedValueExpression",
        "ModulusExpression",
        "BooleanValueExpression",
        "BooleanTerm",
        "BooleanFactor",
        "BooleanTest",
        "_OpBooleanTerm",
        "ComparisonPredicate",
        "ComparisonPredicatePart2",
        "NullPredicate",
        "NullPredicatePart2",
        "InPredicate",
        "StringMatchPredicate",
        "RegexMatchPredicate",
        "LabeledPredicate",
        "LabeledPredicatePart2",
        "IsLabeledOrColon",
        "_Colon",
        "SearchedCase",
        "SearchedWhenClause",
        "SimpleCase",
        "SimpleWhenClause",
        "WhenOperandList",
        "ElseClause",
        "ListValueExpression",
        "ListValueConstructorByEnumeration",
        "ListElementList",
        "CypherSubscriptExpression",
        "CypherSliceExpression",
        "RecordConstructor",
        "FieldsSpecification",
        "FieldList",
        "Field",
        "DependentValueExpression",
    }
)

# Portable openCypher functions (LadybugDB, FalkorDB, PuppyGraph and Neo4j all have them), by the node
# graphglot builds for each call; the comment names the Cypher spelling.
FUNCTIONS = frozenset(
    {
        "AggregateFunction",  # count sum avg min max collect stDev stDevP percentileCont percentileDisc
        "GeneralSetFunction",
        "GeneralSetFunctionType",
        "BinarySetFunction",
        "_Count",
        "_CountAsterisk",
        "_Sum",
        "_Avg",
        "_Min",
        "_Max",
        "_CollectList",
        "_StddevSamp",
        "_StddevPop",
        "CaseAbbreviation",  # coalesce
        "_CoalesceLeftParenListValueExpressionRightParen",
        "CastSpecification",  # toString toInteger toFloat toBoolean
        "CharacterStringType",
        "_String",
        "SignedBinaryExactNumericType",
        "_Int",
        "ApproximateNumericType",
        "_Float",
        "BooleanType",
        "ToLower",
        "ToUpper",
        "Fold",  # upper lower
        "Size",
        "Substring",
        "SubstringFunction",  # left right
        "Replace",
        "Split",
        "SingleCharacterTrimFunction",  # trim
        "TrimOperands",
        "MultiCharacterTrimFunction",  # ltrim rtrim
        "Round",
        "FloorFunction",
        "CeilingFunction",
        "SquareRoot",
        "ArithmeticAbsoluteValueFunction",
        "SignFunc",
        "NaturalLogarithm",
        "ExponentialFunction",
        "PowerFunction",
        "Labels",
        "TypeFunc",
        "Keys",
        "Properties",
        "Head",
        "Last",
        "Tail",
        "RangeFunc",
        "ReverseFunc",
        "IsEmpty",
        "ListPredicateFunction",  # all any none single
        "CypherReduce",
        "PathLengthExpression",  # length
        "PathValueExpression",
    }
)

# Functions that reach the nodes inside a path: refused when the query is confined to an agent or a trace.
PATH_FUNCTIONS = {
    "Nodes": "nodes()",
    "Relationships": "relationships()",
    "StartNode": "startNode()",
    "EndNode": "endNode()",
    "PathVariableDeclaration": "a named path (p = ...)",
}

_NO_DATES = "date and time functions are not portable: times are epoch-ms integers (span_start_ts_ms)"
READ_ONLY = "only read queries are allowed (MATCH, OPTIONAL MATCH, WITH, UNWIND, RETURN)"

# Constructs refused whatever the confinement, with the reason the model reads.
REFUSED = {
    "CreateClause": f"CREATE writes to the graph: {READ_ONLY}",
    "InsertStatement": f"INSERT writes to the graph: {READ_ONLY}",
    "MergeClause": f"MERGE writes to the graph: {READ_ONLY}",
    "SetStatement": f"SET writes to the graph: {READ_ONLY}",
    "DeleteStatement": f"DELETE writes to the graph: {READ_ONLY}",
    "RemoveStatement": f"REMOVE writes to the graph: {READ_ONLY}",
    "CallProcedureStatement": "CALL (procedures and CALL { } subqueries) is not allowed: use MATCH and WITH",
    "InlineProcedureCall": "CALL { } subqueries are not allowed: use WITH, or EXISTS { MATCH ... }",
    "NamedProcedureCall": "procedure calls (CALL db.*, apoc.* ...) are not allowed",
    "UseGraphClause": "USE is not allowed: the query always runs on your own graph",
    "NextStatement": "NEXT is not allowed: write one openCypher query",
    "ElementIdFunction": "elementId() is not stable across engines: match on keys (trace_key, span_key) or ids",
    "LabelNegation": "label expressions (!, |, %) are not allowed on nodes: give each node one label or none",
    "WildcardLabel": "label expressions (!, |, %) are not allowed on nodes: give each node one label or none",
    "DatetimeValueExpression": _NO_DATES,
    "DurationValueExpression": _NO_DATES,
    "DateFunction": _NO_DATES,
    "DatetimeFunction": _NO_DATES,
    "DurationFunction": _NO_DATES,
    "TimestampFunc": _NO_DATES,
}

# Words that start a clause the guard refuses, checked on the tokens before parsing: graphglot cannot parse
# FOREACH or LOAD CSV at all, and a reason naming the clause helps a model more than a syntax error.
REFUSED_WORDS = {
    "CREATE": REFUSED["CreateClause"],
    "MERGE": REFUSED["MergeClause"],
    "SET": REFUSED["SetStatement"],
    "DELETE": REFUSED["DeleteStatement"],
    "DETACH": REFUSED["DeleteStatement"],
    "REMOVE": REFUSED["RemoveStatement"],
    "FOREACH": f"FOREACH writes to the graph: {READ_ONLY}",
    "LOAD": f"LOAD CSV reads files: {READ_ONLY}",
    "CALL": REFUSED["CallProcedureStatement"],
    "USE": REFUSED["UseGraphClause"],
    "DROP": f"DROP changes the schema: {READ_ONLY}",
    "ALTER": f"ALTER changes the schema: {READ_ONLY}",
    "GRANT": f"GRANT changes privileges: {READ_ONLY}",
    "SHOW": "SHOW is not allowed: the schema is Tenant, Agent, Trace, Span (see the tool's description)",
    "INSERT": REFUSED["InsertStatement"],
    "COPY": f"COPY moves data: {READ_ONLY}",
    "INSTALL": f"INSTALL loads extensions: {READ_ONLY}",
    "ATTACH": f"ATTACH opens other databases: {READ_ONLY}",
}

ALLOWED = STRUCTURE | EXPRESSIONS | FUNCTIONS


def function_refusal(name: str) -> str:
    """Why a call graphglot could not map to a known function (`Anonymous`) is refused."""
    if "." in name:
        return f"{name}(): namespaced functions (db.*, apoc.*, gds.* ...) are not allowed"
    if name.lower() == "id":
        return "id() is not stable across engines: match on keys (trace_key, span_key) or ids (trace_id, span_id)"
    return (
        f"{name}() is not on the allowlist of portable openCypher functions (count, sum, avg, min, max, collect, "
        "coalesce, size, toLower, toUpper, toString, toInteger, toFloat, substring, replace, split, trim, round, "
        "abs, floor, ceil, labels, type, keys, head, last, range, length ...)"
    )
