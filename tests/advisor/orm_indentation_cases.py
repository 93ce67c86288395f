"""Drizzle and Prisma schemas indented with 4 spaces, tabs and single quotes, and the advisor's patch of
each, written out in full: the new lines follow the file's own indentation and quotes."""

from __future__ import annotations

from pgdba.advisor.candidates import Candidate

ADVISED = [Candidate("public", "orders", ("customer_id",))]

HEAD = 'import { pgTable, integer, text, index } from "drizzle-orm/pg-core";\n\n'
COLUMNS_4 = '{\n    id: integer("id").primaryKey(),\n    customerId: integer("customer_id"),\n}'

# name → (schema.ts, the patched schema.ts); the advised index is orders(customer_id)
DRIZZLE_CASES = {
    "four-spaces-array-callback": (
        HEAD + 'export const orders = pgTable("orders", ' + COLUMNS_4 + ", (t) => [\n"
        '    index("orders_id_idx").on(t.id),\n]);\n',
        HEAD + 'export const orders = pgTable("orders", ' + COLUMNS_4 + ", (t) => [\n"
        '    index("orders_id_idx").on(t.id),\n    index("orders_customer_id_idx").on(t.customerId),\n]);\n',
    ),
    "four-spaces-object-callback-nested": (
        HEAD + 'export const orders = pgTable(\n    "orders",\n    {\n        id: integer("id"),\n'
        '        customerId: integer("customer_id"),\n    },\n    (table) => ({\n'
        '        idIdx: index("orders_id_idx").on(table.id)\n    }),\n);\n',
        HEAD + 'export const orders = pgTable(\n    "orders",\n    {\n        id: integer("id"),\n'
        '        customerId: integer("customer_id"),\n    },\n    (table) => ({\n'
        '        idIdx: index("orders_id_idx").on(table.id),\n'
        '        ordersCustomerIdIdx: index("orders_customer_id_idx").on(table.customerId),\n'
        "    }),\n);\n",
    ),
    "tabs-object-callback": (
        HEAD + 'export const orders = pgTable("orders", {\n\tid: integer("id"),\n'
        '\tcustomerId: integer("customer_id"),\n}, (t) => ({\n\tidIdx: index("orders_id_idx").on(t.id),\n}));\n',
        HEAD + 'export const orders = pgTable("orders", {\n\tid: integer("id"),\n'
        '\tcustomerId: integer("customer_id"),\n}, (t) => ({\n\tidIdx: index("orders_id_idx").on(t.id),\n'
        '\tordersCustomerIdIdx: index("orders_customer_id_idx").on(t.customerId),\n}));\n',
    ),
    "tabs-no-callback": (
        HEAD + 'export const orders = pgTable("orders", {\n\tid: integer("id"),\n'
        '\tcustomerId: integer("customer_id"),\n});\n',
        HEAD + 'export const orders = pgTable("orders", {\n\tid: integer("id"),\n'
        '\tcustomerId: integer("customer_id"),\n}, (t) => [\n\tindex("orders_customer_id_idx").on(t.customerId),\n]);\n',
    ),
    "four-spaces-empty-callback-single-quotes": (
        "import { pgTable, integer, index } from 'drizzle-orm/pg-core'\n\n"
        "export const orders = pgTable('orders', {\n    id: integer('id'),\n"
        "    customerId: integer('customer_id'),\n}, (t) => [])\n",
        "import { pgTable, integer, index } from 'drizzle-orm/pg-core'\n\n"
        "export const orders = pgTable('orders', {\n    id: integer('id'),\n"
        "    customerId: integer('customer_id'),\n}, (t) => [\n    index('orders_customer_id_idx').on(t.customerId),\n])\n",
    ),
    "four-spaces-arguments-with-trailing-comma": (
        HEAD + 'export const orders = pgTable(\n    "orders",\n    {\n        id: integer("id"),\n'
        '        customerId: integer("customer_id"),\n    },\n);\n',
        HEAD + 'export const orders = pgTable(\n    "orders",\n    {\n        id: integer("id"),\n'
        '        customerId: integer("customer_id"),\n    }, (t) => [\n'
        '        index("orders_customer_id_idx").on(t.customerId),\n    ],\n);\n',
    ),
}

PRISMA_4 = 'model Order {\n    id         Int @id\n    customerId Int @map("customer_id")\n\n    @@map("orders")\n}\n'
PRISMA_TABS = 'model Order {\n\tid\tInt\t@id\n\tcustomerId\tInt\t@map("customer_id")\n\t@@map("orders")\n}\n'
PRISMA_CASES = {
    "four-spaces": (PRISMA_4, PRISMA_4.replace("\n}", "\n    @@index([customerId])\n}")),
    "tabs": (PRISMA_TABS, PRISMA_TABS.replace("\n}", "\n\t@@index([customerId])\n}")),
}
