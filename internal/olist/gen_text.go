package olist

// Review text in Portuguese: accents, emoji, doubled quotes, commas, values
// starting with a digit, trailing spaces and line breaks, like the real data.

var posMessages = []string{
	"Recebi bem antes do prazo estipulado.",
	"Produto muito bom, chegou antes do prazo.",
	"Ótimo produto, recomendo!",
	"Entrega rápida e produto de ótima qualidade.",
	"Chegou tudo certinho, muito obrigado.",
	"Produto conforme o anunciado. Parabéns à loja!",
	"Adorei o produto, superou minhas expectativas.",
	"Tudo ok, entrega dentro do prazo.",
	"Muito bom, recomendo o vendedor.",
	"Excelente compra, embalagem caprichada.",
	"Produto de qualidade e preço justo.",
	"Minha filha amou o presente 😍",
	"Chegou rápido e bem embalado 👍",
	"Vendedor confiável, produto ok e entrega antes do prazo.",
	"Comprei e recomendo, loja nota 10!",
	"O produto é lindo, igual à foto.",
	"Estou satisfeita com a compra.",
	"Perfeito!!!",
	"Bom custo benefício.",
	"Gostei muito, voltarei a comprar.",
	"2 dias para chegar, excelente!",
	"100% satisfeito com a compra.",
	"Parabéns lojas lannister adorei comprar pela Internet seguro e prático",
	"muito boa ",
	"otimo vendedor chegou ate antes do prazo , adorei o produto",
	"Processo de compra tranquilo e eficiente.",
	"Recomendo ,",
	"Produto \"top\", recomendo!",
	"Maravilhoso, veio até com brinde ❤️",
	"Entrega super rápida, chegou em 3 dias.",
}

var midMessages = []string{
	"Produto bom, mas a entrega demorou um pouco.",
	"O produto é bom, porém a cor é diferente da foto.",
	"Razoável. Esperava mais pela descrição.",
	"Chegou no prazo, mas a embalagem estava amassada.",
	"Ainda não testei o produto.",
	"Veio diferente do anunciado, mas serve.",
	"Mais ou menos, o tamanho é menor do que parece.",
	"Mas um pouco ,travando...pelo valor ta Boa.",
	"Respondi que sim para \"recebi o produto correto\" por falta de opção.",
	"Tomara q dure pois é de pelinho.",
	"O acabamento poderia ser melhor 😕",
}

var negMessages = []string{
	"Não recebi o produto até agora.",
	"Péssimo, o produto veio com defeito.",
	"Comprei 2 unidades e só recebi 1.",
	"Até o momento não recebi meu pedido, estou aguardando.",
	"Produto falsificado, não recomendo.",
	"A entrega atrasou mais de 10 dias.",
	"Veio quebrado e ninguém responde minhas mensagens 😡",
	"Não gostei ! Comprei gato por lebre",
	"Quero meu dinheiro de volta.",
	"O produto não corresponde à descrição.",
	"Recebi o produto errado, solicitei a troca.",
	"Nada de chegar o meu pedido.",
	"Muito ruim, a qualidade é péssima.",
	"10 dias de atraso e nenhuma resposta da loja.",
	"GOSTARIA DE SABER O QUE HOUVE, SEMPRE RECEBI E ESSA COMPRA AGORA ME DECEPCIONOU",
	"Veio escrito \"original\" na caixa, mas é paralelo.",
	"O anúncio dizia \"pronta entrega\", mas demorou 20 dias.",
	"Comprei dois produtos e recebi apenas um, o outro não veio.",
}

var posTitles = []string{"Ótimo", "Recomendo", "Super recomendo", "Excelente", "Muito bom", "Perfeito",
	"Amei", "Nota 10", "Bom", "Entrega rápida", "Maravilhoso!", "Top", "Adorei 😍", "recomendo", "MT lindo"}

var midTitles = []string{"Razoável", "Regular", "Poderia ser melhor", "Bom, mas...", "Ok"}

var negTitles = []string{"Péssimo", "Não recomendo", "Não chegou meu produto ", "Produto com defeito",
	"Decepcionado", "Ruim", "Atraso na entrega", "Não recebi", "Produto pirata!"}

// Probability that a review with the given score (index 1..5) has a message.
var messageRate = [6]float64{0, 0.75, 0.65, 0.45, 0.30, 0.36}

// appendMessage appends a review comment for a score. Line breaks are LF;
// the CSV writer turns them into the file's line ending.
func appendMessage(dst []byte, r *rng, score int) []byte {
	bank := posMessages
	switch {
	case score <= 2:
		bank = negMessages
	case score == 3:
		bank = midMessages
	}
	n := 1
	switch x := r.float(); {
	case x < 0.05:
		n = 3
	case x < 0.30:
		n = 2
	}
	multiline := r.chance(0.07)
	for k := 0; k < n; k++ {
		if k > 0 {
			if multiline {
				dst = append(dst, '\n')
			} else {
				dst = append(dst, ' ')
			}
		}
		dst = append(dst, bank[r.intn(int64(len(bank)))]...)
	}
	if multiline {
		switch r.intn(3) {
		case 0:
			if n == 1 {
				dst = append(dst, '\n')
			}
		case 1:
			dst = append(dst, "\n Obrigado"...)
		}
	}
	if r.chance(0.04) {
		dst = append(dst, ' ')
	}
	return dst
}

func appendTitle(dst []byte, r *rng, score int) []byte {
	bank := posTitles
	switch {
	case score <= 2:
		bank = negTitles
	case score == 3:
		bank = midTitles
	}
	return append(dst, bank[r.intn(int64(len(bank)))]...)
}
