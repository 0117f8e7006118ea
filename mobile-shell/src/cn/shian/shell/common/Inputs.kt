// Builders for the binding's input records with the defaults a screen wants
// (the generated records have no defaults, so that every binding language,
// Dart included, sees the same shape).
package cn.shian.shell.common

import cn.shian.core.BuyerInput
import cn.shian.core.CertificateInput
import cn.shian.core.ProductInput
import cn.shian.core.PurchaseInput
import cn.shian.core.QuantityValue
import cn.shian.core.SaleInput
import cn.shian.core.StoreConfig
import cn.shian.core.SupplierInput
import java.time.OffsetDateTime
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter

/** China Standard Time: what screens show and what the device stamps events with. */
val CHINA: ZoneOffset = ZoneOffset.ofHours(8)

private val RFC3339: DateTimeFormatter = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")

/** RFC 3339 with offset and milliseconds (never `OffsetDateTime.toString()`, which drops zero seconds). */
fun rfc3339(t: OffsetDateTime): String = t.format(RFC3339)

/** Now, RFC 3339 with the +08:00 offset, to the millisecond. */
fun nowRfc3339(): String = rfc3339(OffsetDateTime.now(CHINA))

fun qty(value: String, unit: String = "kg") = QuantityValue(value, unit)

fun externalSupplier(name: String, uscc: String? = null, regionCode: String? = null): SupplierInput =
    SupplierInput.External(name, uscc, regionCode)

fun purchaseInput(
    merchantId: String,
    productName: String,
    category: String,
    quantity: QuantityValue,
    supplier: SupplierInput,
    voucherCode: String? = null,
    certificates: List<Pair<String, String>> = emptyList(),
    gtin: String? = null,
    productionDate: String? = null,
    expiryDate: String? = null,
    unitPriceFen: Long? = null,
    receivedAt: String? = null,
    entryId: String? = null,
) = PurchaseInput(
    entryId = entryId,
    merchantId = merchantId,
    product = ProductInput(productName, category, gtin),
    quantity = quantity,
    supplier = supplier,
    voucherCode = voucherCode,
    traceCode = null,
    certificates = certificates.map { (kind, number) -> CertificateInput(kind, number) },
    productionDate = productionDate,
    expiryDate = expiryDate,
    unitPriceFen = unitPriceFen,
    receivedAt = receivedAt,
)

fun saleInput(
    merchantId: String,
    traceCode: String,
    quantity: QuantityValue,
    buyer: BuyerInput = BuyerInput.Retail,
    unitPriceFen: Long? = null,
    soldAt: String? = null,
    entryId: String? = null,
) = SaleInput(entryId, merchantId, traceCode, quantity, buyer, null, unitPriceFen, soldAt)

fun storeConfig(path: String, serverUrl: String, deviceId: String, username: String, password: String) =
    StoreConfig(path, serverUrl, deviceId, username, password)
